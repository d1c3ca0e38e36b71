// Security keys and passkeys (WebAuthn), the browser side. A form marked
//   data-webauthn="create" | "get"
// with either data-options (the server's options as JSON) or data-options-url (POSTed with the form's CSRF
// token; the answer is {"challenge_id": N, "options": {...}}) runs navigator.credentials.create() / .get() when
// it is submitted, puts the answer (JSON, binary fields base64url) into its hidden "credential" field (and
// "challenge_id" when given) and then really submits. Errors are shown in its [data-webauthn-error] element.
// A file, not inline script: the Content-Security-Policy forbids inline script.
(function () {
  "use strict";

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = toBuffer(item.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      out.response.userHandle = response.userHandle && response.userHandle.byteLength ? toText(response.userHandle) : null;
    }
    return JSON.stringify(out);
  }

  function message(error, mode, form) {
    var name = error && error.name;
    if (name === "NotAllowedError") {
      return "The security key or passkey was not used (the request was cancelled or timed out). Try again.";
    }
    if (name === "InvalidStateError") {
      return mode === "create" ? "This security key or passkey is already registered to your account."
                               : "This security key or passkey cannot be used here. Try another one.";
    }
    if (name === "SecurityError") {
      // the server says why when it knows (its address is an IP address, which browsers refuse)
      return form.getAttribute("data-webauthn-address") ||
        "Security keys and passkeys only work on this site's own address (https).";
    }
    if (name === "AbortError") { return "The request was cancelled. Try again."; }
    return (error && error.message) || "Something went wrong with the security key or passkey. Try again.";
  }

  var FRESH_MS = 4 * 60 * 1000;   // the server's challenges live 5 minutes

  function optionsFrom(form) {
    var inline = form.getAttribute("data-options");
    if (inline) { return Promise.resolve({ options: JSON.parse(inline) }); }
    // fetched when the page loaded, so the click goes straight to the authenticator (Safari wants the
    // ceremony to start right inside the click); fetched again when that is older than the challenge
    var early = form.webauthnOptions;
    form.webauthnOptions = null;
    if (early && Date.now() - early.at < FRESH_MS) { return early.promise; }
    return fetchOptions(form);
  }

  function fetchOptions(form) {
    var token = form.querySelector("input[name=csrf_token]");
    return fetch(form.getAttribute("data-options-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": token ? token.value : "", "Accept": "application/json" }
    }).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (body) {
        if (!reply.ok) { throw new Error(body.error || "The page is out of date. Reload it and try again."); }
        return body;
      });
    });
  }

  function run(form) {
    var mode = form.getAttribute("data-webauthn");
    var shown = form.querySelector("[data-webauthn-error]");
    var buttons = form.querySelectorAll("button[type=submit]");
    function show(text) {
      if (shown) { shown.textContent = text; shown.hidden = !text; }
      buttons.forEach(function (b) { b.disabled = false; });
    }
    if (!window.PublicKeyCredential || !navigator.credentials) {
      show("This browser does not support security keys or passkeys. Use another browser, or another way.");
      return;
    }
    show("");
    buttons.forEach(function (b) { b.disabled = true; });
    optionsFrom(form).then(function (body) {
      var challenge = form.querySelector("input[name=challenge_id]");
      if (challenge && body.challenge_id !== undefined) { challenge.value = body.challenge_id; }
      return mode === "create" ? navigator.credentials.create({ publicKey: creationOptions(body.options) })
                               : navigator.credentials.get({ publicKey: requestOptions(body.options) });
    }).then(function (credential) {
      if (!credential) { throw new Error("No security key or passkey answered. Try again."); }
      form.querySelector("input[name=credential]").value = answer(credential);
      form.setAttribute("data-webauthn-done", "yes");
      form.submit();
    }).catch(function (error) { show(message(error, mode, form)); });
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    if (form.getAttribute("data-options-url") && window.PublicKeyCredential) {
      var promise = fetchOptions(form);
      promise.catch(function () {});   // reported when used
      form.webauthnOptions = { promise: promise, at: Date.now() };
    }
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-webauthn-done") === "yes") { return; }
      event.preventDefault();
      if (form.reportValidity && !form.reportValidity()) { return; }
      run(form);
    });
  });
})();
