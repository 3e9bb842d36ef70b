/* SMEFlow chat widget: <script src="https://HOST/chat/widget.js" data-tenant="your-slug" async></script>
   adds a chat button that opens the hosted chat page in a small frame. */
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me) return;
  var slug = me.getAttribute("data-tenant");
  if (!slug) return;
  var origin = new URL(me.src).origin;
  var frame = null;
  var button = document.createElement("button");
  button.type = "button";
  button.textContent = me.getAttribute("data-label") || "Chat";
  button.setAttribute("aria-label", "Open the chat");
  button.style.cssText = "position:fixed;right:1em;bottom:1em;z-index:2147483647;padding:.7em 1.2em;border:0;border-radius:2em;background:#075e54;color:#fff;font:16px system-ui,sans-serif;cursor:pointer";
  button.onclick = function () {
    if (!frame) {
      frame = document.createElement("iframe");
      frame.src = origin + "/chat/" + encodeURIComponent(slug);
      frame.title = "Chat";
      frame.style.cssText = "position:fixed;right:1em;bottom:4.5em;z-index:2147483647;width:min(360px,92vw);height:min(520px,75vh);border:1px solid #ccc;border-radius:.6em;background:#fff";
      document.body.appendChild(frame);
    } else {
      frame.style.display = frame.style.display === "none" ? "block" : "none";
    }
  };
  document.body.appendChild(button);
})();
