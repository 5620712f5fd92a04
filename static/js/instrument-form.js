// Live branching and calculated fields for questionnaire pages.
//
// The server parses each expression once and puts its tree in data-branching /
// data-calculation; this file only walks those trees, with the same rules as
// instruments/expressions.py. The server re-checks everything on submit, so the
// page still works, and stays correct, with JavaScript off.
(function () {
  "use strict";

  var NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;
  var UNITS = { d: 1, w: 7, M: 30.44, y: 365.2425 };

  function isBlank(v) { return v === null || v === undefined || v === ""; }

  function asNumber(v) {
    if (typeof v === "boolean") return v ? 1 : 0;
    if (typeof v === "number") return isFinite(v) ? v : null;
    if (typeof v === "string") {
      var t = v.trim();
      return NUMBER.test(t) ? parseFloat(t) : null;
    }
    return null;
  }

  function asText(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "boolean") return v ? "1" : "0";
    if (typeof v === "number" && Number.isInteger(v)) return String(v);
    return String(v);
  }

  function truthy(v) {
    if (typeof v === "boolean") return v;
    var n = asNumber(v);
    if (n !== null) return n !== 0;
    return !isBlank(v);
  }

  function finite(n) { return typeof n === "number" && isFinite(n) ? n : null; }

  function compare(op, a, b) {
    var x = asNumber(a), y = asNumber(b), both = x !== null && y !== null;
    if (op === "=" || op === "<>") {
      var eq = both ? x === y : asText(a) === asText(b);
      return op === "=" ? eq : !eq;
    }
    if (!both) {
      if (isBlank(a) || isBlank(b)) return false;
      x = asText(a); y = asText(b);
    }
    switch (op) {
      case "<": return x < y;
      case "<=": return x <= y;
      case ">": return x > y;
      default: return x >= y;
    }
  }

  function arithmetic(op, a, b) {
    if (op === "+") return finite(a + b);
    if (op === "-") return finite(a - b);
    if (op === "*") return finite(a * b);
    if (op === "/") return b === 0 ? null : finite(a / b);
    if (Math.abs(b) > 1024) return null;
    return finite(Math.pow(a, b));
  }

  function numbers(values) {
    return values.map(asNumber).filter(function (n) { return n !== null; });
  }

  function toDate(v) {
    if (typeof v === "string" && v.trim().toLowerCase() === "today") {
      var now = new Date();
      return Date.UTC(now.getFullYear(), now.getMonth(), now.getDate());
    }
    var m = /^(\d{4})-(\d{2})-(\d{2})/.exec(asText(v).trim());
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : null;
  }

  // Whole on each anniversary, as instruments/expressions.py counts ages.
  function anniversary(date, year) {
    var d = new Date(date);
    var month = d.getUTCMonth(), day = d.getUTCDate();
    if (month === 1 && day === 29 && new Date(Date.UTC(year, 1, 29)).getUTCMonth() !== 1) day = 28;
    return Date.UTC(year, month, day);
  }

  function calendarYears(a, b) {
    if (b < a) return -calendarYears(b, a);
    var first = new Date(a).getUTCFullYear();
    var years = new Date(b).getUTCFullYear() - first;
    if (anniversary(a, first + years) > b) years -= 1;
    var start = anniversary(a, first + years), end = anniversary(a, first + years + 1);
    return years + (b - start) / (end - start);
  }

  function roundWith(values, fn) {
    var n = asNumber(values[0]);
    var places = values.length > 1 ? asNumber(values[1]) : 0;
    if (n === null || places === null) return null;
    places = Math.trunc(Math.max(Math.min(places, 10), -10));
    var f = Math.pow(10, places);
    return finite(fn(n * f) / f);
  }

  var FUNCTIONS = {
    sum: function (v) { var n = numbers(v); return n.length ? n.reduce(function (a, b) { return a + b; }, 0) : null; },
    mean: function (v) { var n = numbers(v); return n.length ? n.reduce(function (a, b) { return a + b; }, 0) / n.length : null; },
    min: function (v) { var n = numbers(v); return n.length ? Math.min.apply(null, n) : null; },
    max: function (v) { var n = numbers(v); return n.length ? Math.max.apply(null, n) : null; },
    abs: function (v) { var n = asNumber(v[0]); return n === null ? null : Math.abs(n); },
    sqrt: function (v) { var n = asNumber(v[0]); return n === null || n < 0 ? null : Math.sqrt(n); },
    round: function (v) { return roundWith(v, function (x) { return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(-x + 0.5); }); },
    rounddown: function (v) { return roundWith(v, Math.trunc); },
    roundup: function (v) { return roundWith(v, function (x) { return x >= 0 ? Math.ceil(x) : Math.floor(x); }); },
    datediff: function (v) {
      var a = toDate(v[0]), b = toDate(v[1]);
      var unit = v.length > 2 ? asText(v[2]) : "d";
      if (a === null || b === null || !(unit in UNITS)) return null;
      if (unit === "y") return calendarYears(a, b);
      return (b - a) / 86400000 / UNITS[unit];
    }
  };

  function evaluate(node, answers) {
    switch (node[0]) {
      case "lit": return node[1];
      case "field": {
        var value = answers[node[1]];
        if (node[2] !== null && node[2] !== undefined) {
          return Array.isArray(value) && value.indexOf(node[2]) >= 0 ? "1" : "0";
        }
        if (Array.isArray(value)) return value.slice().sort().join(",");
        return value === undefined || value === null ? "" : value;
      }
      case "not": return !truthy(evaluate(node[1], answers));
      case "neg": { var n = asNumber(evaluate(node[1], answers)); return n === null ? null : -n; }
      case "and": return truthy(evaluate(node[1], answers)) && truthy(evaluate(node[2], answers));
      case "or": return truthy(evaluate(node[1], answers)) || truthy(evaluate(node[2], answers));
      case "cmp": return compare(node[1], evaluate(node[2], answers), evaluate(node[3], answers));
      case "arith": {
        var a = asNumber(evaluate(node[2], answers)), b = asNumber(evaluate(node[3], answers));
        return a === null || b === null ? null : arithmetic(node[1], a, b);
      }
      case "call": {
        if (node[1] === "if") {
          var args = node[2];
          return evaluate(truthy(evaluate(args[0], answers)) ? args[1] : args[2], answers);
        }
        var values = node[2].map(function (arg) { return evaluate(arg, answers); });
        return FUNCTIONS[node[1]](values);
      }
    }
    return null;
  }

  function collect(container, saved) {
    var answers = Object.assign({}, saved);
    var prefix = container.getAttribute("data-prefix") || "";
    var seen = {};
    var fields = container.querySelectorAll("input, select, textarea");
    Array.prototype.forEach.call(fields, function (el) {
      if (!el.name || el.disabled) return;
      var name = el.name.indexOf(prefix) === 0 ? el.name.slice(prefix.length) : el.name;
      if (el.type === "checkbox") {
        if (!seen[name]) { answers[name] = []; seen[name] = true; }
        if (el.checked) answers[name].push(el.value);
      } else if (el.type === "radio") {
        if (!seen[name]) { answers[name] = ""; seen[name] = true; }
        if (el.checked) answers[name] = el.value;
      } else if (el.type !== "hidden") {
        answers[name] = el.value;
      }
    });
    return answers;
  }

  function formatNumber(value) {
    var n = asNumber(value);
    if (n === null) return "—";
    return String(Math.round(n * 100) / 100);
  }

  function refresh(container, saved) {
    var answers = collect(container, saved);
    var items = container.querySelectorAll("[data-item]");
    // Branching may depend on calculated values and on items further down.
    for (var pass = 0; pass < 5; pass++) {
      var changed = false;
      Array.prototype.forEach.call(items, function (el) {
        var name = el.getAttribute("data-item");
        var rule = el.getAttribute("data-branching");
        var shown = !rule || truthy(evaluate(JSON.parse(rule), answers));
        if (el.hidden === shown) { el.hidden = !shown; changed = true; }
        if (!shown && name in answers) { delete answers[name]; }
        var calc = el.getAttribute("data-calculation");
        if (calc) {
          var value = shown ? evaluate(JSON.parse(calc), answers) : null;
          if (answers[name] !== value) { answers[name] = value; }
          var out = el.querySelector("[data-calc-output]");
          if (out) out.textContent = formatNumber(value);
        }
      });
      if (!changed) break;
    }
  }

  function init(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-instrument]"), function (container) {
      var saved = {};
      var holder = container.getAttribute("data-saved-answers");
      if (holder) {
        try { saved = JSON.parse(holder); } catch (e) { saved = {}; }
      }
      var update = function () { refresh(container, saved); };
      container.addEventListener("change", update);
      container.addEventListener("input", update);
      update();
    });
    if (form.hasAttribute("data-autosave") && navigator.sendBeacon) {
      // Leaving the page (closing the tab, switching app) saves what is there.
      var dirty = false;
      form.addEventListener("change", function () { dirty = true; });
      form.addEventListener("submit", function () { dirty = false; });
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState !== "hidden" || !dirty) return;
        var data = new FormData(form);
        data.set("go", "autosave");
        navigator.sendBeacon(form.action || window.location.href, data);
        dirty = false;
      });
    }
    form.setAttribute("data-ready", "");
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-instrument-form]"), init);
  });

  window.StudyPortalExpressions = { evaluate: evaluate, truthy: truthy };
})();
