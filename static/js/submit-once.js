// A second click while the first submission is on its way does nothing; the
// server also submits only once, this just spares the patient a confusing wait.
document.addEventListener("submit", function (event) {
  var button = event.target.querySelector("[data-submit-once]");
  if (!button) return;
  if (button.getAttribute("aria-disabled") === "true") { event.preventDefault(); return; }
  button.setAttribute("aria-disabled", "true");
  button.textContent = "Sending…";
});
