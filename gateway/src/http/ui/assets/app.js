// envoi dashboard: the little that needs script. Everything works without it
// except the copy buttons; forms marked .confirm ask first.
"use strict";
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-copy]");
  if (!b) return;
  const source = document.getElementById(b.dataset.copy);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent.trim()).then(() => {
    b.textContent = "Copied";
  });
});
document.addEventListener("submit", (e) => {
  const f = e.target;
  if (f.classList.contains("confirm") && !window.confirm(f.dataset.confirm || "Are you sure?")) {
    e.preventDefault();
  }
});
