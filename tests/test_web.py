"""The staff web app in a real browser: Debian's chromium driven by Playwright, against the real API process
(uvicorn on loopback) over corpus/. axe-core checks every page. Set UPDATE_SCREENSHOTS=1 to refresh the
screenshots in docs/screenshots/."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import pytest

from assistant.app import create_app

from .conftest import CORPUS, ROOT, LiveServer, make_settings
from .filemakers import make_pdf

READ, ADMIN = "chiave-web-lettura", "chiave-web-admin"
AXE = ROOT / "tests" / "vendor" / "axe-core-4.14.1.min.js"
SHOTS = ROOT / "docs" / "screenshots"


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Debian's chromium is not installed (.ci/run installs it): the browser tests must run in CI")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from assistant.storage.store import Store
    from ingest.pipeline import Ingestor

    data = tmp_path_factory.mktemp("web-data")
    settings = make_settings(data, api_keys=f"{READ}:read,{ADMIN}:admin")
    store = Store(settings)
    Ingestor(store, settings).run([CORPUS])
    with LiveServer(create_app(settings, store=store)) as server:
        yield server
    store.close()


def _login(browser, site, key: str):
    context = _new_context(browser, locale="it-IT", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(site.url + "/")
    assert "/login" in page.url
    page.get_by_label("Chiave di accesso").fill(key)
    page.get_by_role("button", name="Accedi").click()
    page.wait_for_url(site.url + "/")
    return context, page


def _new_context(browser, **options):
    """A browser context with axe-core preloaded: an init script is not an inline <script>, so the app's CSP
    (script-src 'self') stays in force while the pages are checked."""
    context = browser.new_context(**options)
    context.add_init_script(path=str(AXE))
    context.on("page", _watch_csp)
    return context


def _watch_csp(page) -> None:
    page.csp_refusals = []
    page.on("console", lambda m: page.csp_refusals.append(m.text) if "Content Security Policy" in m.text else None)


def _axe(page, name: str) -> None:
    assert not getattr(page, "csp_refusals", []), page.csp_refusals  # the page works under its own CSP
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ["violations"]});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help}));
    }""")
    _record_axe(name, result)
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: {bad}"


def _record_axe(name: str, violations: list[dict]) -> None:
    """What axe found on a page, added to the results file as each page is checked (no test has to run last)."""
    out = Path(os.environ.get("AXE_RESULTS", ROOT / "data" / "axe-results.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        results = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        results = {}
    results[name] = violations
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


def _shot(page, name: str) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_login_page_is_accessible_and_a_wrong_key_is_refused(browser, site):
    context = _new_context(browser, locale="it-IT")
    page = context.new_page()
    page.goto(site.url + "/chiedi")
    assert page.url.startswith(site.url + "/login")
    _axe(page, "login")
    _shot(page, "accesso")
    page.get_by_label("Chiave di accesso").fill("sbagliata")
    page.get_by_role("button", name="Accedi").click()
    assert "Chiave non valida" in page.get_by_role("alert").inner_text()
    assert "sbagliata" not in page.content()
    context.close()


def test_a_filter_ticked_while_results_load_is_kept(browser, site):
    """Typing words and ticking a filter at once sends two requests (the words' change, then the box's); the last
    one must win, not the first one's page with the box unticked."""
    context, page = _login(browser, site, READ)
    page.get_by_label("Parole o domanda").fill("acqua")
    page.get_by_label(re.compile(r"^Palestina")).check()  # the words field loses focus: its change fires first
    page.wait_for_url(re.compile(r"q=acqua.*country=Palestina"))
    page.wait_for_function("document.querySelectorAll('.risultato').length > 0")
    page.wait_for_load_state("networkidle")
    assert page.get_by_label(re.compile(r"^Palestina")).is_checked()
    assert "country=Palestina" in page.url
    context.close()


def test_search_with_two_filters_and_open_the_passage(browser, site, caplog):
    with caplog.at_level(logging.DEBUG):
        context, page = _login(browser, site, READ)
    page.get_by_label("Parole o domanda").fill("acqua")
    page.get_by_role("button", name="Cerca", exact=True).click()
    page.wait_for_url(re.compile(r"q=acqua"))
    page.wait_for_selector(".risultato")
    assert page.locator(".risultato mark").count() > 0  # query words highlighted
    page.get_by_label(re.compile(r"^Palestina")).check()
    page.wait_for_url(re.compile(r"country=Palestina"))
    page.get_by_label(re.compile(r"^acque reflue")).check()
    page.wait_for_url(re.compile(r"theme=acque"))
    page.wait_for_function("document.querySelectorAll('.risultato').length === 1")
    titles = page.locator(".risultato h2").all_inner_texts()
    assert len(titles) == 1
    _axe(page, "cerca")
    _shot(page, "cerca")
    # the URL holds the state: reload and back both keep it
    page.reload()
    assert page.get_by_label(re.compile(r"^Palestina")).is_checked()
    page.locator(".risultato h2 a").first.click()
    page.wait_for_url(re.compile(r"/documenti/.+#p-\d+"))
    hit = page.locator(".passaggi li.trovato")
    assert hit.count() == 1 and hit.locator("mark").count() > 0
    assert hit.evaluate("el => { const r = el.getBoundingClientRect(); return r.top < innerHeight && r.bottom > 0; }")
    _axe(page, "documento")
    _shot(page, "documento")
    page.go_back()
    page.wait_for_url(re.compile(r"country=Palestina"))
    # an empty result suggests removing filters
    page.goto(site.url + "/?q=acqua&country=Palestina&theme=acque+reflue&year_from=2030")
    assert "togliere qualche filtro" in page.locator(".vuoto").inner_text()
    # no key anywhere: page source, URLs, logs
    assert READ not in page.content() and READ not in page.url
    assert READ not in caplog.text
    context.close()


def test_ask_streams_cites_and_follows_up(browser, site):
    context, page = _login(browser, site, READ)
    page.goto(site.url + "/chiedi")
    box = page.get_by_label("La tua domanda")
    box.fill("Quali progetti ha seguito la Toscana in Marocco?")
    page.get_by_role("button", name="Chiedi", exact=True).click()
    first = page.locator(".scambio").nth(0)
    first.locator(".fonti a").first.wait_for()
    assert "Oujda" in first.locator(".risposta").inner_text()
    box.fill("E quanto è costato?")
    page.get_by_role("button", name="Chiedi", exact=True).click()
    second = page.locator(".scambio").nth(1)
    second.locator(".fonti a").first.wait_for()
    assert "218.000" in second.locator(".risposta").inner_text()  # the follow-up stayed on the same project
    second.get_by_role("group", name="La risposta è utile?").get_by_role("button", name="Sì").click()
    page.get_by_text("Grazie per il riscontro!").wait_for()
    # an abstention is plain, with what was searched
    box.fill("Qual è il budget del progetto del Comune di Pesaro in Etiopia?")
    page.get_by_role("button", name="Chiedi", exact=True).click()
    third = page.locator(".scambio").nth(2)
    third.locator(".cercato").wait_for()
    assert "Ho cercato" in third.locator(".cercato").inner_text()
    _axe(page, "chiedi")
    _shot(page, "chiedi")
    with page.expect_navigation():
        first.locator(".fonti a").first.click()
    assert page.locator(".passaggi li.trovato").count() == 1
    page.go_back()
    page.get_by_role("button", name="Nuova conversazione").click()
    assert page.locator(".scambio").count() == 0
    box = page.get_by_label("La tua domanda")
    box.fill("E quanto è costato?")
    page.get_by_role("button", name="Chiedi", exact=True).click()
    page.locator(".scambio .cercato:not(:empty)").first.wait_for()
    assert "Nei documenti disponibili non ho trovato" in page.locator(".scambio .risposta").first.inner_text()
    context.close()


def test_admin_uploads_two_files_one_bad(browser, site, tmp_path):
    context, page = _login(browser, site, ADMIN)
    page.goto(site.url + "/gestione")
    good = tmp_path / "vinci-kukes.txt"
    good.write_text("Il Comune di Vinci sostiene una scuola di falegnameria a Kukës, in Albania, dal 2024. "
                    "Il progetto forma venti giovani artigiani all'anno.", encoding="utf-8")
    bad = tmp_path / "finto.txt"
    bad.write_bytes(make_pdf(tmp_path / "vero.pdf", ["Un PDF con il nome sbagliato."]).read_bytes())
    page.get_by_label(re.compile("Scegli i file")).set_input_files([str(good), str(bad)])
    page.get_by_label("Organizzazione").fill("Comune di Vinci")
    page.get_by_role("button", name="Carica").click()
    page.locator(".caricamenti li.errore").wait_for()
    page.locator(".caricamenti li.fatto").wait_for(timeout=120_000)
    error = page.locator(".caricamenti li.errore").inner_text()
    assert "finto.txt" in error and "il contenuto è PDF, non testo" in error and "Errore" in error
    assert "vinci-kukes.txt" in page.locator(".caricamenti li.fatto").inner_text()
    _axe(page, "gestione")
    _shot(page, "gestione")
    page.goto(site.url + "/?q=falegnameria+Kuk%C3%ABs")
    assert page.locator(".risultato h2").first.inner_text() == "vinci-kukes"
    page.locator(".risultato h2 a").first.click()
    assert page.get_by_role("link", name=re.compile("Scarica il file originale")).count() == 1
    # delete it again, with a confirmation
    page.goto(site.url + "/gestione")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Elimina vinci-kukes").click()
    page.get_by_text(re.compile("eliminato")).wait_for()
    csv = page.request.get(site.url + "/gestione/riscontri.csv")
    assert csv.status == 200 and csv.text().startswith('"id","answer_id","voto"')  # every cell quoted (OWASP)
    context.close()


def test_read_key_cannot_reach_gestione_and_forms_need_their_token(browser, site):
    context, page = _login(browser, site, READ)
    assert page.get_by_role("link", name="Gestione").count() == 0
    response = page.goto(site.url + "/gestione")
    assert response.status == 403 and "riservata agli amministratori" in page.content()
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    r = page.request.post(site.url + "/gestione/carica", headers={"X-CSRF-Token": token},
                          multipart={"file": {"name": "a.txt", "mimeType": "text/plain", "buffer": b"ciao"}})
    assert r.status == 403
    r = page.request.get(site.url + "/gestione/riscontri.csv")
    assert r.status == 403
    admin_ctx, admin = _login(browser, site, ADMIN)
    r = admin.request.post(site.url + "/gestione/elimina/003_0fefe2eb825e6ecf")  # no CSRF token
    assert r.status == 403
    admin_ctx.close()
    # logout ends the session
    page.goto(site.url + "/")
    page.get_by_role("button", name="Esci").click()
    page.wait_for_url(re.compile(r"/login"))
    page.goto(site.url + "/chiedi")
    assert "/login" in page.url
    cookies = context.cookies()
    assert not any(c["name"] == "coop_session" for c in cookies)
    context.close()


def test_session_cookie_is_httponly_strict_and_signed(browser, site):
    context, page = _login(browser, site, READ)
    [cookie] = [c for c in context.cookies() if c["name"] == "coop_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert READ not in cookie["value"]
    forged = cookie["value"].replace(cookie["value"][-3:], "AAA")
    context.clear_cookies()
    context.add_cookies([{**cookie, "value": forged}])
    page.goto(site.url + "/")
    assert "/login" in page.url
    context.close()


def test_open_mode_pages_work_without_login(browser, corpus_store, tmp_path):
    settings = make_settings(tmp_path)  # no keys: the pages are open, as the API is (loopback only)
    with LiveServer(create_app(settings, store=corpus_store)) as server:
        context = _new_context(browser, locale="it-IT")
        page = context.new_page()
        page.goto(server.url + "/?q=acquedotto+Oujda")
        assert "/login" not in page.url and page.locator(".risultato").count() >= 1
        assert page.get_by_role("button", name="Esci").count() == 0
        page.goto(server.url + "/chiedi")
        page.get_by_label("La tua domanda").fill("Chi guida il progetto sulle acque reflue in Palestina?")
        page.get_by_role("button", name="Chiedi", exact=True).click()
        page.locator(".scambio .fonti a").first.wait_for()
        assert "Prato" in page.locator(".scambio .risposta").inner_text()
        assert page.goto(server.url + "/gestione").status == 200
        context.close()
