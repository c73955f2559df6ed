// Documento: bring the passage that was hit into view and give it the focus (for keyboard and screen readers).
(function () {
  "use strict";
  const hit = document.querySelector(".passaggi .trovato");
  if (!hit) return;
  hit.setAttribute("tabindex", "-1");
  hit.scrollIntoView({block: "center"});
  hit.focus({preventScroll: true});
})();
