// Administration on a phone: the side navigation is one scrolling row; show the current section in it.
(function () {
  var current = document.querySelector(".side-nav [aria-current=page]");
  var row = document.querySelector(".side-nav > ul");
  if (current && row && row.scrollWidth > row.clientWidth) {
    row.scrollLeft = Math.max(0, current.offsetLeft - 16);   // the row is the link's offsetParent (position: relative)
  }
})();
