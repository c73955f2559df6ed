"""The real PTB Application against a fake Telegram Bot API on loopback and the real API over corpus/."""

from __future__ import annotations

import logging
import re
import time

import httpx
import pytest

from assistant.app import create_app
from bots.formatting import answer_html, sources_html, split_message
from bots.telegram_bot import UNAVAILABLE, CoopBot

from .conftest import LiveServer, free_port, make_settings
from .telegram_fake import BotRunner, FakeTelegram

READ, ADMIN = "bot-read-key", "bot-admin-key"
ALLOWED = "1001,1002,1003,1004,1005,1006,1007"


@pytest.fixture(scope="module")
def api_server(corpus_store, tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("bot-api"), api_keys=f"{READ}:read,{ADMIN}:admin")
    with LiveServer(create_app(settings, store=corpus_store)) as server:
        yield server


@pytest.fixture(scope="module")
def telegram():
    fake = FakeTelegram()
    with LiveServer(fake.app) as server:
        fake.url = server.url
        yield fake


def _bot_settings(tmp_path, api_url: str, **kw):
    return make_settings(tmp_path, telegram_bot_token="123456:TEST-TOKEN", api_url=api_url, api_key=READ,
                         telegram_allowed_users=ALLOWED, telegram_api_timeout=10, **kw)


@pytest.fixture(scope="module")
def bot(api_server, telegram, tmp_path_factory):
    settings = _bot_settings(tmp_path_factory.mktemp("bot"), api_server.url)
    app = CoopBot(settings).build(base_url=f"{telegram.url}/bot")
    with BotRunner(app):
        yield telegram


def _ask(fake: FakeTelegram, user: int, text: str) -> dict:
    before = len(fake.sent(user))
    fake.text(user, text)
    return fake.wait_sent(user, before + 1)[-1]


def test_five_turn_conversation_with_followup(bot):
    turns = [
        ("Quali progetti ha seguito la Toscana in Marocco?", "Oujda"),
        ("E quanto è costato?", "218.000 euro"),
        ("Chi guida il progetto sulle acque reflue in Palestina?", "Comune di Prato"),
        ("Con quale associazione ANCI Piemonte ha siglato il primo accordo?", "ACAL"),
        ("E in quale paese si trova?", "Benin"),
    ]
    for question, expected in turns:
        reply = _ask(bot, 1001, question)
        assert expected in reply["text"], (question, reply["text"])
        assert reply["parse_mode"] == "HTML"
        assert "<b>Fonti:</b>" in reply["text"]
        buttons = reply["reply_markup"]["inline_keyboard"][0]
        assert [b["text"] for b in buttons] == ["👍", "👎"]
        assert buttons[0]["callback_data"].startswith("fb:up:")
    assert bot.sent(1001, "sendChatAction")


def test_abstention_reply_has_no_sources(bot):
    reply = _ask(bot, 1002, "Quanti abitanti ha Oujda?")
    assert reply["text"].startswith("Nei documenti disponibili non ho trovato informazioni")
    assert "Fonti" not in reply["text"]


def test_cerca_lists_top_documents_with_snippets(bot):
    reply = _ask(bot, 1002, "/cerca acquedotto Oujda")
    text = reply["text"]
    assert text.startswith("<b>Documenti per «acquedotto Oujda»</b>")
    assert "1. <b>Confservizi Cispel Toscana – Progetti di cooperazione internazionale</b>" in text
    assert "<b>Oujda</b>" in text
    assert text.count("\n\n") + 0 >= 4 and "5. " in text
    empty = _ask(bot, 1002, "/cerca")
    assert "/cerca acquedotto Oujda" in empty["text"]


def test_fonti_shows_cited_passages_split_under_the_limit(bot, api_server):
    question = "Quali progetti di cooperazione riguardano l'acqua?"
    answer = httpx.post(f"{api_server.url}/v1/ask", json={"question": question},
                        headers={"Authorization": f"Bearer {READ}"}, timeout=60).json()
    expected = sources_html(answer["citations"])
    assert len(expected) > 4096  # precondition: this reply must be split
    _ask(bot, 1004, question)
    before = len(bot.sent(1004))
    bot.text(1004, "/fonti")
    time.sleep(1.0)
    parts = bot.wait_sent(1004, before + 2)[before:]
    texts = [p["text"] for p in parts]
    assert all(len(t) <= 4096 for t in texts)
    assert "\n\n".join(texts) == expected  # split exactly at paragraph boundaries, nothing lost
    assert all(t.startswith("<b>[") for t in texts)


def test_feedback_click_reaches_the_api(bot, api_server):
    reply = _ask(bot, 1005, "Chi guida il progetto sulle acque reflue in Palestina?")
    data = reply["reply_markup"]["inline_keyboard"][0][1]["callback_data"]  # 👎
    answer_id = data.split(":")[2]
    bot.click(1005, data, message_id=4242)
    deadline = time.time() + 20
    while time.time() < deadline and not any(
            c.get("callback_query_id") for c in bot.sent(None, "answerCallbackQuery")):
        time.sleep(0.05)
    acks = bot.sent(None, "answerCallbackQuery")
    assert any(a.get("text") == "Grazie per il riscontro!" for a in acks)
    items = httpx.get(f"{api_server.url}/v1/feedback", headers={"Authorization": f"Bearer {ADMIN}"}).json()["items"]
    assert any(i["answer_id"] == answer_id and i["rating"] == "down" for i in items)
    assert bot.sent(None, "editMessageReplyMarkup")


def test_unknown_user_gets_one_polite_refusal_and_nothing_is_logged(bot, caplog):
    from assistant.core.logs import quiet_third_party

    quiet_third_party()  # the logging set-up `assistant bot` applies
    secret = "Domanda riservata sul bilancio segreto"
    with caplog.at_level(logging.DEBUG):
        bot.text(5555, secret)
        first = bot.wait_sent(5555, 1)
        bot.text(5555, secret + " 2")
        time.sleep(1.5)
    assert len(bot.sent(5555)) == 1
    assert "5555" in first[0]["text"] and "autorizzato" in first[0]["text"]
    denied = [r for r in caplog.records if r.getMessage() == "access_denied"]
    assert denied and denied[0].fields == {"user_id": 5555}  # the log is captured...
    assert secret not in caplog.text  # ...and holds nothing of what they wrote


def test_rate_limit_is_friendly(bot):
    replies = []
    for i in range(11):
        replies.append(_ask(bot, 1003, f"Chi guida il progetto sulle acque reflue in Palestina? ({i})"))
    assert all("Prato" in r["text"] for r in replies[:10])
    assert "molte domande" in replies[10]["text"]


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice"])
def test_non_text_messages_get_a_clear_reply(bot, kind):
    before = len(bot.sent(1006))
    bot.media(1006, kind)
    reply = bot.wait_sent(1006, before + 1)[-1]
    assert "solo messaggi di testo" in reply["text"]


def test_overlong_question_is_refused_kindly(bot):
    reply = _ask(bot, 1006, "parola " * 200)
    assert "troppo lunga" in reply["text"] and "1000" in reply["text"]


def test_nuova_forgets_the_conversation(bot):
    _ask(bot, 1007, "Quali progetti ha seguito la Toscana in Marocco?")
    assert "Nuova conversazione" in _ask(bot, 1007, "/nuova")["text"]
    reply = _ask(bot, 1007, "E quanto è costato?")
    assert "218.000" not in reply["text"]


def test_send_errors_are_retried(bot):
    bot.fail_sends = 1
    before = len(bot.sent(1002))
    bot.text(1002, "/aiuto")
    failed, retried = bot.wait_sent(1002, before + 2)[before : before + 2]  # the 502 and the retry
    assert failed["text"] == retried["text"]
    assert "Chi guida il progetto sulle acque reflue in Palestina?" in retried["text"]


def test_api_outage_and_recovery(corpus_store, tmp_path):
    port = free_port()
    api_settings = make_settings(tmp_path / "api", api_keys=f"{READ}:read")
    bot_settings = _bot_settings(tmp_path / "bot", f"http://127.0.0.1:{port}")
    telegram = FakeTelegram()  # its own Telegram: the module's bot must not take these updates
    with LiveServer(telegram.app) as tg, BotRunner(CoopBot(bot_settings).build(base_url=f"{tg.url}/bot")):
        with LiveServer(create_app(api_settings, store=corpus_store), port=port):
            assert "Prato" in _ask(telegram, 1001, "Chi guida il progetto sulle acque reflue in Palestina?")["text"]
        assert _ask(telegram, 1001, "Chi guida il progetto sulle acque reflue in Palestina?")["text"] == UNAVAILABLE
        assert _ask(telegram, 1001, "/cerca acquedotto")["text"] == UNAVAILABLE
        with LiveServer(create_app(api_settings, store=corpus_store), port=port):
            assert "Prato" in _ask(telegram, 1001, "Chi guida il progetto sulle acque reflue in Palestina?")["text"]


def test_split_message_keeps_paragraphs_and_limit():
    paragraphs = [f"<b>[{i}]</b> " + ("parola " * 150).strip() for i in range(12)]
    text = "\n\n".join(paragraphs)
    parts = split_message(text)
    assert len(parts) > 1 and all(len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == text
    huge = "x" * 9000
    assert all(len(p) <= 4096 for p in split_message(huge)) and "".join(split_message(huge)) == huge


def test_answer_html_escapes_everything():
    html = answer_html({"answer": "A <script> & B [1]", "citations": [
        {"n": 1, "doc_id": "d", "title": "Titolo <i>", "organisation": "Org & co"}]})
    assert "&lt;script&gt; &amp; B" in html and "Titolo &lt;i&gt;" in html and "Org &amp; co" in html


def test_split_never_cuts_an_entity_or_a_tag():
    # a run without spaces whose 4,096 boundary falls inside "&amp;"
    for shift in range(6):
        text = "x" * (4093 - shift) + "&amp;" * 900
        parts = split_message(text)
        assert "".join(parts) == text and all(len(p) <= 4096 for p in parts)
        for p in parts:
            assert not re.search(r"&[a-z]{0,4}$", p) and not re.match(r"^[a-z]{1,4};", p), (shift, p[-8:])
    tagged = "y" * 4093 + "<b>z</b>" * 10
    assert all(not p.endswith(("<", "<b", "</", "</b")) for p in split_message(tagged))


def test_command_menu_is_set_at_start(bot):
    deadline = time.time() + 10
    while time.time() < deadline and not bot.sent(None, "setMyCommands"):
        time.sleep(0.05)
    [call] = bot.sent(None, "setMyCommands")[:1]
    names = [c["command"] for c in call["commands"]]
    assert names == ["cerca", "fonti", "nuova", "aiuto"]


def test_conversation_ids_come_from_the_api(bot, api_server):
    _ask(bot, 1002, "Quali progetti ha seguito la Toscana in Marocco?")
    follow = _ask(bot, 1002, "E quanto è costato?")
    assert "218.000" in follow["text"]  # the follow-up continued the API's own conversation
    # the old guessable ids lead nowhere: another caller cannot read this chat's conversation
    for guess in ("tg-1002-0", "tg-1002-1"):
        r = httpx.post(f"{api_server.url}/v1/ask", headers={"Authorization": f"Bearer {ADMIN}"},
                       json={"question": "E quanto è costato?", "conversation_id": guess})
        assert r.json()["conversation_id"] != guess and "218.000" not in r.json()["answer"]


def test_vote_on_an_unknown_answer_says_it_is_gone(bot):
    bot.click(1005, "fb:up:" + "0" * 32, message_id=777)
    deadline = time.time() + 20
    while time.time() < deadline and not any("non è più disponibile" in (a.get("text") or "")
                                             for a in bot.sent(None, "answerCallbackQuery")):
        time.sleep(0.05)
    texts = [a.get("text") or "" for a in bot.sent(None, "answerCallbackQuery")]
    assert any("non è più disponibile" in t for t in texts) and not any("riprova tra poco" in t for t in texts)
