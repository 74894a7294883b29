// The widget screen's copy button: copies the embed code and says so (role=status).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var source = document.getElementById(button.getAttribute("data-copy"));
  var status = document.getElementById("copy-status");
  var done = function () { if (status) status.textContent = status.getAttribute("data-copied"); };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(source.value).then(done, function () { source.select(); });
  } else {
    source.select();
    document.execCommand("copy");
    done();
  }
});
