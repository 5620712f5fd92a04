// Shows the approach questions only when every criterion is met, and the decline
// reason only when the patient declined. The server applies the same rules.
(function () {
  "use strict";
  function update(form) {
    var groups = form.querySelectorAll("input[type=radio][name^=criterion_]");
    var names = {};
    Array.prototype.forEach.call(groups, function (input) { names[input.name] = names[input.name] || false; });
    var allYes = Object.keys(names).every(function (name) {
      var checked = form.querySelector("input[name='" + name + "']:checked");
      return checked && checked.value === "yes";
    });
    var eligible = form.querySelector("[data-if-eligible]");
    if (eligible) eligible.hidden = !allYes;
    var outcome = form.querySelector("input[name=outcome]:checked");
    var declined = form.querySelector("[data-if-declined]");
    if (declined) declined.hidden = !(outcome && outcome.value === "declined");
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-screening-form]");
    if (!form) return;
    form.addEventListener("change", function () { update(form); });
    update(form);
    form.setAttribute("data-ready", "");
  });
})();
