// Turns a text selection in the transcript into character offsets for the
// coding form. The container holds exactly the transcript text (highlights are
// <mark> elements around parts of it), so a Range's text length from the
// container's start is an offset into the transcript. The server checks them.
(function () {
  "use strict";

  function offsetIn(container, node, offset) {
    var before = document.createRange();
    before.selectNodeContents(container);
    before.setEnd(node, offset);
    return before.toString().length;
  }

  function selectedOffsets(container) {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
    var range = selection.getRangeAt(0);
    if (!range.intersectsNode(container)) return null;
    var whole = document.createRange();
    whole.selectNodeContents(container);
    var text = container.textContent;
    var start = range.compareBoundaryPoints(Range.START_TO_START, whole) <= 0
      ? 0 : offsetIn(container, range.startContainer, range.startOffset);
    var end = range.compareBoundaryPoints(Range.END_TO_END, whole) >= 0
      ? text.length : offsetIn(container, range.endContainer, range.endOffset);
    // Leave out the blank space a drag tends to pick up at either end.
    while (start < end && /\s/.test(text.charAt(start))) start += 1;
    while (end > start && /\s/.test(text.charAt(end - 1))) end -= 1;
    return end > start ? { start: start, end: end } : null;
  }

  function showPassage(container, form, preview) {
    var text = container.textContent;
    var start = parseInt(form.elements.start.value, 10);
    var end = parseInt(form.elements.end.value, 10);
    if (isNaN(start) || isNaN(end) || start < 0 || end <= start || end > text.length) {
      preview.textContent = "Nothing selected yet.";
      return;
    }
    preview.textContent = text.slice(start, end);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var container = document.querySelector("[data-transcript-text]");
    var form = document.querySelector("form[data-code-form]");
    var preview = document.getElementById("selected-passage");
    if (!container || !form || !preview) return;

    function takeSelection() {
      var offsets = selectedOffsets(container);
      if (!offsets) return;
      form.elements.start.value = offsets.start;
      form.elements.end.value = offsets.end;
      showPassage(container, form, preview);
    }

    // selectionchange follows both mouse and keyboard selection. Only a
    // selection in the transcript counts: clicking a checkbox afterwards
    // collapses it, and takeSelection then keeps the chosen passage.
    document.addEventListener("selectionchange", takeSelection);
    form.elements.start.addEventListener("input", function () { showPassage(container, form, preview); });
    form.elements.end.addEventListener("input", function () { showPassage(container, form, preview); });
    container.setAttribute("data-ready", "");
  });
})();
