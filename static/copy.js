// "Copy" buttons: <button data-copy="ID" hidden> copies the lines of element ID to the clipboard.
// Loaded as a file because the Content-Security-Policy forbids inline script; without it the button stays hidden.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var items = source.querySelectorAll("li");
      var text = items.length ? Array.prototype.map.call(items, function (li) { return li.textContent.trim(); }).join("\n")
                              : source.textContent.trim();
      navigator.clipboard.writeText(text + "\n").then(
        function () { button.textContent = "Copied"; },
        function () { button.textContent = "Copying failed: select the codes and copy them"; });
    });
  });
})();
