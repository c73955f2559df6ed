// Chiedi: sends the question, reads the answer as Server-Sent Events from /chiedi/stream and shows it as it
// arrives; keeps the conversation id for follow-ups. No framework: fetch + ReadableStream.
(function () {
  "use strict";
  // The page's CSRF token, from the body's hx-headers (no inline script: the CSP allows none).
  const CSRF = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  const form = document.getElementById("domanda");
  const box = document.getElementById("testo");
  const log = document.getElementById("conversazione");
  const status = document.getElementById("stato");
  const send = document.getElementById("invia");
  const model = document.getElementById("modello-risposta");
  let conversation = sessionStorage.getItem("conversazione") || null;

  function setConversation(id) {
    conversation = id;
    if (id) sessionStorage.setItem("conversazione", id); else sessionStorage.removeItem("conversazione");
  }

  async function ask(question) {
    const node = model.content.firstElementChild.cloneNode(true);
    node.querySelector(".chiesto").textContent = question;
    const answer = node.querySelector(".risposta");
    answer.setAttribute("aria-busy", "true");
    log.appendChild(node);
    send.disabled = true;
    status.textContent = "Sto cercando nei documenti…";
    let response;
    try {
      response = await fetch("/chiedi/stream", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
        body: JSON.stringify({question: question, conversation_id: conversation}),
      });
    } catch (e) {
      return fail(node, "Il servizio non è raggiungibile, riprova tra poco.");
    }
    if (!response.ok) {
      let message = "Non è stato possibile rispondere.";
      try { message = (await response.json()).error.message; } catch (e) { /* not JSON */ }
      if (response.status === 401) { window.location.href = "/login?next=/chiedi"; return; }
      return fail(node, message);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handle(node, buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
    answer.removeAttribute("aria-busy");
    send.disabled = false;
    status.textContent = "";
    box.focus();
  }

  function handle(node, block) {
    let event = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) event = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    const payload = JSON.parse(data || "{}");
    const answer = node.querySelector(".risposta");
    if (event === "meta") {
      setConversation(payload.conversation_id);
      node.querySelector('input[name="answer_id"]').value = payload.answer_id;
      if (payload.abstained) {
        node.classList.add("astenuta");
        node.querySelector(".cercato").textContent = "Ho cercato: «" + payload.searched + "»";
      }
    } else if (event === "draft") {
      // A language model's text as it is written, shown as a draft until the verified answer replaces it.
      if (!answer.classList.contains("bozza")) { answer.textContent = ""; answer.classList.add("bozza"); }
      answer.textContent += payload.text;
    } else if (event === "delta") {
      if (answer.classList.contains("bozza")) { answer.textContent = ""; answer.classList.remove("bozza"); }
      answer.textContent += payload.text;
    } else if (event === "error") {
      fail(node, payload.message);
    } else if (event === "citations") {
      const list = node.querySelector(".fonti");
      for (const c of payload.citations) {
        const li = document.createElement("li");
        li.value = c.n;
        const a = document.createElement("a");
        a.href = c.url;
        a.textContent = c.title + (c.organisation ? " — " + c.organisation : "") + (c.page ? ", p. " + c.page : "");
        li.appendChild(a);
        list.appendChild(li);
      }
    } else if (event === "done") {
      answer.textContent = payload.answer;
      if (window.htmx) window.htmx.process(node);
    }
  }

  function fail(node, message) {
    const answer = node.querySelector(".risposta");
    answer.removeAttribute("aria-busy");
    answer.textContent = message;
    node.classList.add("errore");
    node.querySelector(".voto").remove();
    send.disabled = false;
    status.textContent = "";
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const question = box.value.trim();
    if (!question) { status.textContent = "Scrivi una domanda."; return; }
    box.value = "";
    ask(question);
  });
  box.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
  });
  document.getElementById("nuova").addEventListener("click", function () {
    if (conversation) {
      fetch("/chiedi/nuova?c=" + encodeURIComponent(conversation), {
        method: "POST", credentials: "same-origin", headers: {"X-CSRF-Token": CSRF}});
    }
    setConversation(null);
    log.replaceChildren();
    status.textContent = "Nuova conversazione: le domande precedenti non sono più considerate.";
    box.focus();
  });
})();
