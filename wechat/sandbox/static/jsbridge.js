// Sandbox WeixinJSBridge (and a minimal `wx` JS-SDK) for H5 pages in dev: include it with
//   <script src="<sandbox>/static/jsbridge.js"></script>
// getBrandWCPayRequest shows a pay sheet that pays through the sandbox's pay API; wx.config is checked by the sandbox
// as WeChat checks it. Inside WeChat (or with another bridge already present) it does nothing.
(function () {
  "use strict";
  if (window.WeixinJSBridge && !window.WeixinJSBridge.__sandbox) return;
  var me = document.currentScript || Array.prototype.slice.call(document.scripts).filter(function (s) {
    return /\/static\/jsbridge\.js/.test(s.src);
  })[0];
  var ROOT = me ? me.src.replace(/\/static\/jsbridge\.js.*$/, "") : "/sandbox";
  var inPhone = window.parent && window.parent !== window;

  function cookie(name) {
    var m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  // Inside the phone page the parent (same origin as the sandbox) makes the sandbox API calls for us: the H5 page
  // may be on another origin (standalone sandbox), and the sandbox API does not answer CORS. Elsewhere: fetch.
  var pending = {}, seq = 0;
  function direct(method, path, body) {
    var opts = { method: method, headers: {} };
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    return fetch(ROOT + path, opts).then(function (r) {
      return r.text().then(function (t) { return { ok: r.ok, status: r.status, text: t }; });
    });
  }
  function relay(method, path, body) {
    if (!inPhone) return direct(method, path, body);
    return new Promise(function (resolve) {
      var id = "api" + (++seq), acked = false;
      pending[id] = function (msg) {
        if (msg.type === "sandbox:ack") { acked = true; return; }
        delete pending[id];
        resolve({ ok: msg.ok, status: msg.status, text: msg.text });
      };
      window.parent.postMessage({ type: "sandbox:api", id: id, method: method, path: path, body: body }, "*");
      setTimeout(function () {
        if (!acked && pending[id]) { delete pending[id]; resolve(direct(method, path, body)); }
      }, 700);
    });
  }
  function call(method, path, body) {
    return relay(method, path, body).then(function (r) {
      var data = null;
      try { data = r.text ? JSON.parse(r.text) : null; } catch (e) { data = { message: r.text }; }
      if (!r.ok) throw new Error((data && (data.message || data.detail)) || ("HTTP " + r.status));
      return data;
    });
  }
  function post(path, body) { return call("POST", path, body); }
  function css(node, styles) { Object.keys(styles).forEach(function (k) { node.style[k] = styles[k]; }); return node; }
  function node(tag, text, styles) { var n = document.createElement(tag); if (text) n.textContent = text; return css(n, styles || {}); }

  // --- the pay sheet -----------------------------------------------------------------------------------
  function paySheet(params, done) {
    var prepayId = String(params["package"] || "").replace(/^prepay_id=/, "");
    var mask = node("div", "", { position: "fixed", left: 0, right: 0, top: 0, bottom: 0, background: "rgba(0,0,0,.5)",
      zIndex: 2147483647, display: "flex", alignItems: "flex-end", fontFamily: "sans-serif" });
    mask.setAttribute("data-sandbox-pay-sheet", prepayId);
    var sheet = node("div", "", { width: "100%", background: "#fff", borderRadius: "12px 12px 0 0", padding: "18px 16px 24px",
      boxSizing: "border-box", display: "flex", flexDirection: "column", gap: "10px", textAlign: "center" });
    var title = node("div", "微信支付（沙箱）", { fontSize: "15px", color: "#333" });
    var amount = node("div", "¥ …", { fontSize: "34px", fontWeight: "600", margin: "6px 0" });
    var desc = node("div", "", { fontSize: "13px", color: "#888" });
    var status = node("div", "", { fontSize: "13px", color: "#c33", minHeight: "16px" });
    var pay = node("button", "确认支付", { background: "#07c160", color: "#fff", border: "none", borderRadius: "6px",
      padding: "12px", fontSize: "16px" });
    pay.setAttribute("data-sandbox-pay", "ok");
    var fail = node("button", "模拟支付失败", { background: "#fff", color: "#c33", border: "1px solid #eee", borderRadius: "6px", padding: "10px" });
    fail.setAttribute("data-sandbox-pay", "fail");
    var cancel = node("button", "取消", { background: "#fff", color: "#333", border: "1px solid #eee", borderRadius: "6px", padding: "10px" });
    cancel.setAttribute("data-sandbox-pay", "cancel");
    [title, amount, desc, status, pay, fail, cancel].forEach(function (n) { sheet.appendChild(n); });
    mask.appendChild(sheet);
    document.body.appendChild(mask);

    call("GET", "/api/pay/orders?limit=500").then(function (orders) {
      var o = (orders || []).filter(function (x) { return x.prepay_id === prepayId; })[0];
      if (o) { amount.textContent = "¥" + (o.total_fen / 100).toFixed(2); desc.textContent = o.description || ""; }
      else { amount.textContent = "¥ —"; }
    }).catch(function () { amount.textContent = "¥ —"; });

    function finish(result, extra) { mask.parentNode && mask.parentNode.removeChild(mask); done(result, extra); }
    function submit(outcome) {
      pay.disabled = fail.disabled = cancel.disabled = true;
      status.textContent = "";
      var body = {};
      Object.keys(params).forEach(function (k) { body[k] = params[k]; });
      body.openid = cookie("sandbox_openid");
      body.outcome = outcome;
      post("/api/pay/jsapi", body).then(function () {
        if (outcome === "SUCCESS") {
          pay.textContent = "支付成功";
          if (inPhone) window.parent.postMessage({ type: "sandbox:paid", prepay_id: prepayId }, "*");
          setTimeout(function () { finish("ok"); }, 600);
        } else {
          finish("fail", "支付失败");
        }
      }).catch(function (e) {
        status.textContent = e.message;
        pay.disabled = fail.disabled = cancel.disabled = false;
        pay.textContent = "重试";
        cancel.onclick = function () { finish("fail", e.message); };
      });
    }
    pay.onclick = function () { submit("SUCCESS"); };
    fail.onclick = function () { submit("PAYERROR"); };
    cancel.onclick = function () { finish("cancel"); };
  }

  // --- WeixinJSBridge ------------------------------------------------------------------------------------
  var bridge = {
    __sandbox: true,
    invoke: function (name, params, cb) {
      cb = cb || function () {};
      if (name === "getBrandWCPayRequest") {
        paySheet(params || {}, function (result, desc) {
          var res = { err_msg: "get_brand_wcpay_request:" + result };
          if (desc) res.err_desc = desc;
          cb(res);
        });
      } else if (name === "closeWindow") {
        bridge.call("closeWindow");
        cb({ err_msg: "closeWindow:ok" });
      } else if (name === "getLocation" || name === "geoLocation") {
        locate(function (loc) { cb({ err_msg: name + ":ok", latitude: loc.latitude, longitude: loc.longitude, accuracy: 30, speed: 0 }); });
      } else {
        cb({ err_msg: name + ":ok" });
      }
    },
    call: function (name) {
      if (name === "closeWindow") {
        if (inPhone) window.parent.postMessage({ type: "sandbox:closeWindow" }, "*"); else history.back();
      }
    },
    on: function () {},
  };
  window.WeixinJSBridge = bridge;

  var fallback = { latitude: 31.2304, longitude: 121.4737 };
  function locate(cb) {
    if (!inPhone) { cb(fallback); return; }
    var id = "loc" + (++seq);
    pending[id] = function (msg) { cb(msg.location); };
    window.parent.postMessage({ type: "sandbox:getLocation", id: id }, "*");
    setTimeout(function () { if (pending[id]) { delete pending[id]; cb(fallback); } }, 800);
  }
  window.addEventListener("message", function (ev) {
    var msg = ev.data || {};
    if (typeof msg.type === "string" && msg.type.indexOf("sandbox:") === 0 && pending[msg.id]) {
      var cb = pending[msg.id];
      if (msg.type !== "sandbox:ack") delete pending[msg.id];
      cb(msg);
    }
  });

  // --- a minimal wx (JS-SDK) when the page did not load the real one -----------------------------------
  if (!window.wx) {
    var readyFns = [], errorFns = [], configured = null, config = null;
    var settle = function (ok, res) {
      configured = { ok: ok, res: res };
      (ok ? readyFns : errorFns).forEach(function (fn) { fn(res); });
    };
    var ok = function (opts, name, extra) {
      var res = { errMsg: name + ":ok" };
      Object.keys(extra || {}).forEach(function (k) { res[k] = extra[k]; });
      if (opts && opts.success) opts.success(res);
      if (opts && opts.complete) opts.complete(res);
    };
    var wx = {
      config: function (c) {
        config = c;
        post("/api/jssdk/verify", { appId: c.appId, timestamp: c.timestamp, nonceStr: c.nonceStr, signature: c.signature,
          url: location.href.split("#")[0] })
          .then(function (r) {
            if (c.debug) alert(r.errMsg);
            settle(r.ok, { errMsg: r.errMsg });
          })
          .catch(function (e) { settle(false, { errMsg: "config:fail " + e.message }); });
      },
      ready: function (fn) { if (configured && configured.ok) fn(); else readyFns.push(fn); },
      error: function (fn) { if (configured && !configured.ok) fn(configured.res); else errorFns.push(fn); },
      checkJsApi: function (opts) {
        var result = {};
        ((opts && opts.jsApiList) || []).forEach(function (n) { result[n] = true; });
        ok(opts, "checkJsApi", { checkResult: result });
      },
      chooseWXPay: function (opts) {
        var params = { appId: config ? config.appId : opts.appId, timeStamp: String(opts.timestamp), nonceStr: opts.nonceStr,
          "package": opts["package"], signType: opts.signType, paySign: opts.paySign };
        bridge.invoke("getBrandWCPayRequest", params, function (res) {
          var r = { errMsg: res.err_msg.replace("get_brand_wcpay_request", "chooseWXPay") };
          if (/:ok$/.test(res.err_msg)) { if (opts.success) opts.success(r); }
          else if (/:cancel$/.test(res.err_msg)) { if (opts.cancel) opts.cancel(r); }
          else if (opts.fail) opts.fail(r);
          if (opts.complete) opts.complete(r);
        });
      },
      getLocation: function (opts) {
        locate(function (loc) { ok(opts, "getLocation", { latitude: loc.latitude, longitude: loc.longitude, speed: 0, accuracy: 30 }); });
      },
      closeWindow: function () { bridge.call("closeWindow"); },
    };
    ["hideMenuItems", "showMenuItems", "hideOptionMenu", "showOptionMenu", "updateAppMessageShareData",
      "updateTimelineShareData", "openLocation", "scanQRCode", "previewImage"].forEach(function (name) {
      wx[name] = function (opts) { ok(opts, name); };
    });
    window.wx = window.jWeixin = wx;
  }

  function ready() {
    var ev;
    try { ev = new Event("WeixinJSBridgeReady"); } catch (e) { ev = document.createEvent("Event"); ev.initEvent("WeixinJSBridgeReady", true, true); }
    document.dispatchEvent(ev);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready); else setTimeout(ready, 0);
})();
