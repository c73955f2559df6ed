"""Telegram bot for municipal officers: a python-telegram-bot Application, thin client of the HTTP API.

It owns no index: questions, searches and feedback go to the API (ASSISTANT_API_URL, ASSISTANT_API_KEY).
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections import defaultdict, deque

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from assistant.core.config import Settings, allowed_ids

from .api_client import ApiRejected, ApiUnavailable, AssistantApi
from .formatting import answer_html, search_html, sources_html, split_message

log = logging.getLogger("bots.telegram")

MAX_QUESTION = 1000
UNAVAILABLE = "Il servizio non è raggiungibile, riprova tra poco."
HELP = (
    "Ciao! Sono l'assistente sulla <b>cooperazione decentrata</b>: rispondo alle domande usando solo i documenti "
    "disponibili (progetti, bandi, programmi, contatti) e indico sempre le fonti.\n\n"
    "Prova a chiedere:\n"
    "• <i>Chi guida il progetto sulle acque reflue in Palestina?</i>\n"
    "• <i>Quali progetti ha seguito la Toscana in Marocco?</i> e poi <i>E quanto è costato?</i>\n\n"
    "Comandi:\n"
    "/cerca <i>parole</i> – i cinque documenti più pertinenti\n"
    "/fonti – i passaggi citati nell'ultima risposta\n"
    "/nuova – ricomincia una nuova conversazione\n"
    "/aiuto – questo messaggio"
)
COMMANDS = [("cerca", "Cerca nei documenti: /cerca parole"), ("fonti", "I passaggi citati nell'ultima risposta"),
            ("nuova", "Ricomincia una nuova conversazione"), ("aiuto", "Come usare l'assistente")]
NOT_TEXT = "Posso leggere solo messaggi di testo: scrivi la tua domanda in un messaggio."


class RateLimiter:
    """Sliding window of `per_minute` events per key."""

    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self._events: dict[int, deque[float]] = defaultdict(deque)

    def retry_after(self, key: int) -> float:
        """0 if allowed now (and counted), else seconds to wait."""
        now = self.clock()
        window = self._events[key]
        while window and now - window[0] >= 60:
            window.popleft()
        if len(window) >= self.per_minute:
            return 60 - (now - window[0])
        window.append(now)
        return 0.0


async def send_html(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, reply_markup=None,
                    attempts: int = 4) -> None:
    """Send (split) HTML; Telegram errors are logged and retried with backoff; buttons go on the last part."""
    chunks = split_message(text)
    chat_id = update.effective_chat.id
    for i, chunk in enumerate(chunks):
        markup = reply_markup if i == len(chunks) - 1 else None
        delay = 0.5
        for attempt in range(1, attempts + 1):
            try:
                await context.bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML, reply_markup=markup,
                                               disable_web_page_preview=True)
                break
            except RetryAfter as exc:
                pause = exc.retry_after
                wait = pause.total_seconds() if hasattr(pause, "total_seconds") else float(pause)
                log.warning("telegram_retry_after", extra={"fields": {"seconds": wait, "attempt": attempt}})
                if attempt == attempts:
                    raise
                await asyncio.sleep(wait)
            except (TimedOut, NetworkError) as exc:
                log.warning("telegram_send_failed", extra={"fields": {"error": type(exc).__name__,
                                                                      "attempt": attempt}})
                if attempt == attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2


class DraftMessage:
    """A language model's answer shown while it is written: one message, edited at most every `interval` seconds,
    then replaced by the verified answer with its sources (which may differ: unverified sentences are dropped)."""

    def __init__(self, bot, chat_id: int, interval: float = 1.0, clock=time.monotonic) -> None:
        self.bot, self.chat_id, self.interval, self.clock = bot, chat_id, interval, clock
        self.text = ""
        self.message_id: int | None = None
        self._shown = ""
        self._last = 0.0

    async def add(self, piece: str) -> None:
        self.text += piece
        if self.message_id is not None and self.clock() - self._last < self.interval:
            return
        shown = self.text.strip()[:3500] + " …"
        if not self.text.strip() or shown == self._shown:
            return
        try:
            if self.message_id is None:
                sent = await self.bot.send_message(self.chat_id, shown)
                self.message_id = sent.message_id
            else:
                await self.bot.edit_message_text(shown, chat_id=self.chat_id, message_id=self.message_id)
            self._shown = shown
        except TelegramError as exc:  # a draft that could not be shown is no loss: the answer follows
            log.warning("telegram_draft_failed", extra={"fields": {"error": type(exc).__name__}})
        self._last = self.clock()

    async def finish(self, html_text: str, reply_markup=None) -> bool:
        """Put the final answer in the draft's message (and any further parts after it); False if no draft was
        shown, so the caller sends the answer as usual."""
        if self.message_id is None:
            return False
        chunks = split_message(html_text)
        try:
            await self.bot.edit_message_text(chunks[0], chat_id=self.chat_id, message_id=self.message_id,
                                             parse_mode=ParseMode.HTML, disable_web_page_preview=True,
                                             reply_markup=reply_markup if len(chunks) == 1 else None)
        except TelegramError as exc:
            log.warning("telegram_final_edit_failed", extra={"fields": {"error": type(exc).__name__}})
            await self.discard()
            return False
        for i, chunk in enumerate(chunks[1:], 2):
            await self.bot.send_message(self.chat_id, chunk, parse_mode=ParseMode.HTML, disable_web_page_preview=True,
                                        reply_markup=reply_markup if i == len(chunks) else None)
        return True

    async def discard(self) -> None:
        """Remove a draft left without an answer (the error is told in a message of its own)."""
        if self.message_id is None:
            return
        try:
            await self.bot.delete_message(self.chat_id, self.message_id)
        except TelegramError:
            pass
        self.message_id = None


class CoopBot:
    """Handlers and per-chat state; `build()` returns the PTB Application."""

    def __init__(self, settings: Settings, api: AssistantApi | None = None) -> None:
        self.settings = settings
        self.api = api or AssistantApi(settings.api_base_url, settings.api_key, settings.telegram_api_timeout)
        self.users, self.chats = allowed_ids(settings)
        if not self.users and not self.chats:
            log.warning("no_allowed_users", extra={"fields": {
                "hint": "set ASSISTANT_TELEGRAM_ALLOWED_USERS or _CHATS, everyone is refused"}})
        self.limiter = RateLimiter(settings.telegram_rate_per_minute)
        self._refused: set[int] = set()

    # ---------------------------------------------------------------- access and limits
    async def gate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        chat = update.effective_chat
        if user is None:
            raise ApplicationHandlerStop
        if user.id in self.users or (chat is not None and chat.id in self.chats):
            return
        # Nothing of what they wrote is stored or logged: only their id, so an admin can add them.
        log.info("access_denied", extra={"fields": {"user_id": user.id}})
        if update.callback_query is not None:
            await update.callback_query.answer("Accesso non autorizzato.")
        elif user.id not in self._refused and chat is not None:
            self._refused.add(user.id)
            await context.bot.send_message(
                chat.id,
                "Mi dispiace, questo assistente è riservato al personale autorizzato. "
                f"Se ne hai bisogno, comunica all'amministratore il tuo identificativo Telegram: {user.id}",
            )
        raise ApplicationHandlerStop

    # ---------------------------------------------------------------- state
    @staticmethod
    def conversation_id(context: ContextTypes.DEFAULT_TYPE) -> str | None:
        """The conversation the API issued for this chat (None before the first question or after /nuova):
        ids are the API's own, unguessable and bound to the bot's key, never made up here."""
        return context.chat_data.get("conversation_id")

    # ---------------------------------------------------------------- handlers
    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await send_html(update, context, HELP)

    async def new(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        old = context.chat_data.pop("conversation_id", None)
        context.chat_data.pop("last_citations", None)
        if old:
            try:
                await self.api.forget(old)
            except (ApiUnavailable, ApiRejected):
                pass  # the API forgets idle conversations by itself
        await send_html(update, context, "Nuova conversazione: le domande precedenti non sono più considerate.")

    async def sources(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await send_html(update, context, sources_html(context.chat_data.get("last_citations", [])))

    async def search(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = " ".join(context.args or []).strip()
        if not query:
            await send_html(update, context, "Scrivi le parole da cercare dopo il comando, per esempio: "
                                             "<code>/cerca acquedotto Oujda</code>")
            return
        if len(query) > MAX_QUESTION:
            await send_html(update, context, "La ricerca è troppo lunga (massimo 1000 caratteri).")
            return
        if not await self._within_limit(update, context):
            return
        result = await self._call(update, context, "search", self.api.search(query, k=5), "Ricerca non valida")
        if result is not None:
            await send_html(update, context, search_html(result))

    async def question(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        text = (update.effective_message.text or "").strip()
        if not text:
            await send_html(update, context, "Il messaggio è vuoto: scrivi una domanda.")
            return
        if len(text) > MAX_QUESTION:
            await send_html(update, context, f"La domanda è troppo lunga ({len(text)} caratteri): il massimo è "
                                             f"{MAX_QUESTION}. Prova a riassumerla.")
            return
        if not await self._within_limit(update, context):
            return
        try:
            await context.bot.send_chat_action(update.effective_chat.id, ChatAction.TYPING)
        except TelegramError:
            pass
        draft = DraftMessage(context.bot, update.effective_chat.id, self.settings.telegram_edit_seconds)
        answer = await self._call(update, context, "ask",
                                  self.api.ask_stream(text, self.conversation_id(context), draft.add),
                                  "Non posso elaborare la domanda")
        if answer is None:
            await draft.discard()
            return
        context.chat_data["conversation_id"] = answer.get("conversation_id")
        context.chat_data["last_citations"] = answer.get("citations", [])
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton("👍", callback_data=f"fb:up:{answer['answer_id']}"),
            InlineKeyboardButton("👎", callback_data=f"fb:down:{answer['answer_id']}"),
        ]])
        if not await draft.finish(answer_html(answer), buttons):
            await send_html(update, context, answer_html(answer), reply_markup=buttons)

    async def feedback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        _, rating, answer_id = (query.data or "::").split(":", 2)
        try:
            await self.api.feedback(answer_id, rating)
        except ApiUnavailable as exc:
            log.warning("feedback_failed", extra={"fields": {"error": exc}})
            await query.answer("Non sono riuscito a registrare il riscontro, riprova tra poco.")
            return
        except ApiRejected as exc:
            # e.g. the answer is older than the retention period: retrying will not help
            log.info("feedback_rejected", extra={"fields": {"error": exc}})
            await query.answer("Questa risposta non è più disponibile: il riscontro non può essere registrato.")
            try:
                await query.edit_message_reply_markup(reply_markup=None)
            except TelegramError:
                pass
            return
        await query.answer("Grazie per il riscontro!")
        try:
            await query.edit_message_reply_markup(reply_markup=None)
        except TelegramError:
            pass

    async def not_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await send_html(update, context, NOT_TEXT)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("handler_error", extra={"fields": {"error": type(context.error).__name__}})

    async def _call(self, update: Update, context: ContextTypes.DEFAULT_TYPE, op: str, call, rejected: str):
        """Await an API call; on failure tell the user (in Italian) and return None."""
        try:
            return await call
        except ApiUnavailable as exc:
            log.warning("api_unavailable", extra={"fields": {"op": op, "error": exc}})
            await send_html(update, context, UNAVAILABLE)
        except ApiRejected as exc:
            await send_html(update, context, f"{rejected}: {html.escape(str(exc))}")
        return None

    async def _within_limit(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
        wait = self.limiter.retry_after(update.effective_user.id)
        if wait > 0:
            await send_html(update, context, f"Hai fatto molte domande in poco tempo: riprova tra {int(wait) + 1} "
                                             "secondi.")
            return False
        return True

    # ---------------------------------------------------------------- application
    @staticmethod
    async def _set_commands(app: Application) -> None:
        """The command menu Telegram shows next to the text box."""
        try:
            await app.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])
        except TelegramError as exc:
            log.warning("set_my_commands_failed", extra={"fields": {"error": type(exc).__name__}})

    def build(self, base_url: str | None = None) -> Application:
        if not self.settings.telegram_bot_token:
            raise SystemExit("TELEGRAM_BOT_TOKEN is not set")
        app = (
            ApplicationBuilder()
            .token(self.settings.telegram_bot_token)
            .base_url(base_url or self.settings.telegram_base_url)
            .post_init(self._set_commands)
            .post_shutdown(lambda _: self.api.close())
            .build()
        )
        app.add_handler(TypeHandler(Update, self.gate), group=-1)
        app.add_handler(CommandHandler(["start", "aiuto", "help"], self.help))
        app.add_handler(CommandHandler("nuova", self.new))
        app.add_handler(CommandHandler("fonti", self.sources))
        app.add_handler(CommandHandler("cerca", self.search))
        app.add_handler(CallbackQueryHandler(self.feedback, pattern=r"^fb:(up|down):[0-9a-f]+$"))
        app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, self.question))
        app.add_handler(MessageHandler(filters.COMMAND, self.help))
        app.add_handler(MessageHandler(~filters.TEXT, self.not_text))
        app.add_error_handler(self.on_error)
        return app


def run_bot(settings: Settings) -> int:
    app = CoopBot(settings).build()
    if settings.telegram_webhook_url:
        app.run_webhook(listen="0.0.0.0", port=settings.telegram_webhook_port,
                        url_path=settings.telegram_bot_token or "", webhook_url=settings.telegram_webhook_url)
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0
