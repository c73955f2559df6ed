// Gestione: upload several files (chosen or dropped), each with its own progress and its own error, then
// follow each indexing job until it is done or failed.
(function () {
  "use strict";
  // The page's CSRF token, from the body's hx-headers (no inline script: the CSP allows none).
  const CSRF = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRF-Token"];
  const form = document.getElementById("carica");
  const input = document.getElementById("file");
  const zone = document.getElementById("zona");
  const list = document.getElementById("caricamenti");
  let dropped = null;

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("sopra"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("sopra"); });
  });
  zone.addEventListener("drop", function (e) {
    e.preventDefault();
    dropped = e.dataTransfer.files;
    zone.querySelector("label").textContent = dropped.length + " file pronti da caricare";
  });

  function row(name) {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = name;
    const bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "Avanzamento di " + name);
    const state = document.createElement("span");
    state.className = "stato-file";
    li.append(label, bar, state);
    list.appendChild(li);
    return {li: li, bar: bar, state: state};
  }

  function upload(file, fields) {
    const r = row(file.name);
    const data = new FormData();
    data.append("file", file);
    for (const [k, v] of fields) if (v) data.append(k, v);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/gestione/carica");
    xhr.setRequestHeader("X-CSRF-Token", CSRF);
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) r.bar.value = Math.round(50 * e.loaded / e.total);
      r.state.textContent = "invio…";
    };
    xhr.onload = function () {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 202) { follow(body, r); return; }
      failed(r, (body.error && body.error.message) || ("Errore " + xhr.status));
    };
    xhr.onerror = function () { failed(r, "Il servizio non è raggiungibile."); };
    xhr.send(data);
  }

  function follow(job, r) {
    r.bar.value = 60;
    r.state.textContent = job.stage || "in coda";
    fetch("/gestione/lavori/" + job.id, {credentials: "same-origin"}).then(function (res) {
      return res.json();
    }).then(function (j) {
      if (j.state === "done") {
        r.bar.value = 100;
        r.li.classList.add("fatto");
        const n = j.document ? j.document.passages : 0;
        r.state.textContent = "indicizzato: " + n + (n === 1 ? " passaggio" : " passaggi");
        const a = document.createElement("a");
        a.href = "/documenti/" + encodeURIComponent(j.doc_id);
        a.textContent = " apri";
        r.state.appendChild(a);
      } else if (j.state === "failed") {
        failed(r, j.error ? j.error.message : "indicizzazione non riuscita");
      } else {
        r.bar.value = j.state === "running" ? 80 : 60;
        r.state.textContent = j.stage;
        setTimeout(function () { follow(j, r); }, 700);
      }
    }).catch(function () { setTimeout(function () { follow(job, r); }, 1500); });
  }

  function failed(r, message) {
    r.bar.remove();
    r.li.classList.add("errore");
    r.state.textContent = "Errore: " + message;
    r.state.setAttribute("role", "alert");
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    const files = dropped && dropped.length ? dropped : input.files;
    if (!files || !files.length) { zone.querySelector("label").focus(); return; }
    const fields = new FormData(form);
    fields.delete("file");
    for (const file of files) upload(file, fields.entries());
    dropped = null;
    form.reset();
  });
})();
