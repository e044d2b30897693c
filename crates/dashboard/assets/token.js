// The token prompt: the server takes the token once from the address and
// keeps it in an HttpOnly cookie, so this script never stores it itself.
(function () {
  var input = document.getElementById('token');
  function send() {
    if (!input.value) { return; }
    location.replace(location.pathname + '?token=' + encodeURIComponent(input.value.trim()));
  }
  document.getElementById('send').addEventListener('click', send);
  input.addEventListener('keydown', function (e) { if (e.key === 'Enter') { send(); } });
  input.focus();
})();
