/* Customer H5: cart quantities, checkout (quote, place with an Idempotency-Key, JSAPI pay), order page. */
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function toast(text) {
    var t = $("#toast"); if (!t) return;
    t.textContent = text; t.hidden = false;
    setTimeout(function () { t.hidden = true; }, 2500);
  }
  function yuan(fen) { return "¥" + (fen / 100).toFixed(2); }
  function api(method, url, body, headers) {
    var h = { "Accept": "application/json" };
    if (body !== undefined) h["Content-Type"] = "application/json";
    for (var k in headers || {}) h[k] = headers[k];
    return fetch(url, { method: method, headers: h, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body) }).then(function (r) {
      return r.text().then(function (t) {
        var data = null; try { data = t ? JSON.parse(t) : null; } catch (e) { data = null; }
        if (!r.ok) {
          var msg = (data && (data.detail || data.message)) || ("请求失败（" + r.status + "）");
          var err = new Error(msg); err.status = r.status; throw err;
        }
        return data;
      });
    });
  }
  function friendly(err) {
    if (err.status === 401) return "登录已过期，请刷新页面";
    if (err.status === 409) return "库存或价格有变化，请刷新后重试：" + err.message;
    return "操作失败：" + err.message;
  }

  function pay(orderId) {
    return api("POST", "/api/payments/", { order_id: orderId, channel: "JSAPI" }).then(function (p) {
      return new Promise(function (resolve) {
        if (typeof WeixinJSBridge === "undefined") { resolve("no_bridge"); return; }
        WeixinJSBridge.invoke("getBrandWCPayRequest", p.jsapi_params, function (res) {
          resolve(res && res.err_msg);
        });
      });
    });
  }

  // Checkout extension point: partials (coupon picker, member card) set fields in H5.extra (merged into
  // the quote and order bodies), listen for "quote:updated" / "quote:failed" on document, call H5.requote().
  var H5 = { extra: {}, api: api, yuan: yuan, toast: toast, friendly: friendly };
  H5.bindCatalogue = function () {
    var list = $(".products[data-store]"); if (!list) return;
    var store = list.getAttribute("data-store");
    list.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.plus, button.minus"); if (!btn) return;
      var li = btn.closest("[data-sku]"), n = $(".n", li);
      var qty = parseInt(n.textContent, 10) + (btn.classList.contains("plus") ? 1 : -1);
      if (qty < 0) return;
      btn.disabled = true;
      api("PUT", "/api/cart/" + store + "/items/" + li.getAttribute("data-sku"), { qty: qty }).then(function (cart) {
        n.textContent = qty;
        var count = 0; cart.items.forEach(function (x) { count += x.qty; });
        var c = $("#cart-count"); if (c) c.textContent = count;
        var t = $("#items-total"); if (t) t.textContent = yuan(cart.items_fen);
        if (qty === 0 && $("#checkout")) li.remove();
        if ($("#checkout")) H5.requote();
        toast(qty > 0 ? "已加入购物车" : "已移除");
      }).catch(function (e) { toast(friendly(e)); }).then(function () { btn.disabled = false; });
    });
  };

  function checkoutBody(form) {
    var kind = form.querySelector("input[name=kind]:checked").value;
    var body = { store_id: parseInt(form.getAttribute("data-store"), 10), kind: kind, note: form.note.value };
    for (var k in H5.extra) if (H5.extra[k] !== undefined && H5.extra[k] !== null) body[k] = H5.extra[k];
    if (kind !== "pickup") {
      body.address = { contact_name: form.contact_name.value, phone: form.phone.value,
        address: form.querySelector("input[name=address]").value,
        lat: parseFloat(form.lat.value), lng: parseFloat(form.lng.value) };
    }
    return body;
  }
  var lastQuote = null;
  H5.requote = function () {
    var form = $("#checkout"); if (!form) return;
    var q = $("#quote"), err = $("#error");
    $("#addr").hidden = form.querySelector("input[name=kind]:checked").value === "pickup";
    var body = checkoutBody(form);
    if (body.address && (isNaN(body.address.lat) || isNaN(body.address.lng))) { q.textContent = "请填写地址坐标"; return; }
    api("POST", "/api/orders/quote", body).then(function (r) {
      lastQuote = r; err.hidden = true;
      var when = new Date(r.promise_at);
      var hm = ("0" + when.getHours()).slice(-2) + ":" + ("0" + when.getMinutes()).slice(-2);
      q.innerHTML = "";
      var lines = ["商品 " + yuan(r.items_fen)];
      if (r.discount_fen) lines.push("优惠 -" + yuan(r.discount_fen));
      if (r.delivery_fee_fen) lines.push("配送费 " + yuan(r.delivery_fee_fen));
      if (r.urgent_fee_fen) lines.push("急送费 " + yuan(r.urgent_fee_fen));
      lines.push("应付 " + yuan(r.cash_due_fen));
      lines.push("预计 " + hm + (body.kind === "pickup" ? " 可取货" : " 送达") + "（约" + r.promise_minutes + "分钟）");
      lines.forEach(function (t) { var p = document.createElement("div"); p.textContent = t; q.appendChild(p); });
      q.setAttribute("data-total", r.total_fen);
      document.dispatchEvent(new CustomEvent("quote:updated", { detail: r }));
    }).catch(function (e) {
      lastQuote = null; q.textContent = ""; err.textContent = friendly(e); err.hidden = false;
      document.dispatchEvent(new CustomEvent("quote:failed", { detail: { status: e.status, message: e.message } }));
    });
  };
  H5.bindCheckout = function () {
    var form = $("#checkout"); if (!form) return;
    var key = "ck-" + Date.now() + "-" + Math.random().toString(36).slice(2);
    form.addEventListener("change", function () {
      key = "ck-" + Date.now() + "-" + Math.random().toString(36).slice(2);  // another order: another key
      H5.requote();
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = $("#error"), btn = $("#place");
      var body = checkoutBody(form);
      if (lastQuote) body.expected_total_fen = lastQuote.total_fen;
      btn.disabled = true; err.hidden = true;
      api("POST", "/api/orders/", body, { "Idempotency-Key": key }).then(function (placed) {
        if (placed.cash_due_fen === 0) { location.href = "/orders/" + placed.id; return; }  // stored value paid it
        return pay(placed.id).then(function (msg) {
          location.href = "/orders/" + placed.id + (msg === "get_brand_wcpay_request:ok" ? "?pay=1" : "");
        });
      }).catch(function (e) { err.textContent = friendly(e); err.hidden = false; btn.disabled = false; });
    });
    H5.requote();
  };

  var LABELS = { created: "待支付", paid: "已支付", reviewing: "审核中", dispatching: "派单中", accepted: "已接单",
    preparing: "备货中", ready: "待取货", out_for_delivery: "配送中", delivered: "已送达", picked_up: "已取货",
    completed: "已完成", cancelled: "已取消" };
  H5.bindOrder = function () {
    var box = $("#order"); if (!box) return;
    var id = box.getAttribute("data-id"), status = box.getAttribute("data-status");
    var cd = $("#countdown");
    if (cd) {
      var promise = new Date(box.getAttribute("data-promise")).getTime();
      var tick = function () {
        var s = Math.max(0, Math.round((promise - Date.now()) / 1000));
        cd.textContent = ("0" + Math.floor(s / 60)).slice(-2) + ":" + ("0" + (s % 60)).slice(-2);
      };
      tick(); setInterval(tick, 1000);
    }
    var polls = 0;
    var poll = function () {
      api("GET", "/api/orders/" + id).then(function (o) {
        if (o.status !== status) { location.reload(); return; }
        $("#status").textContent = LABELS[o.status] || o.status;
      }).catch(function () {}).then(function () { polls++; setTimeout(poll, polls < 20 ? 2000 : 5000); });
    };
    if (["cancelled", "completed"].indexOf(status) < 0) setTimeout(poll, 2000);
    var payBtn = $("#pay");
    if (payBtn) payBtn.addEventListener("click", function () {
      payBtn.disabled = true;
      pay(id).then(function (msg) {
        if (msg === "get_brand_wcpay_request:ok") { toast("支付成功"); setTimeout(poll, 500); }
        else if (msg === "get_brand_wcpay_request:cancel") toast("已取消支付");
        else toast("支付未完成，请重试");
      }).catch(function (e) { toast(friendly(e)); }).then(function () { payBtn.disabled = false; });
    });
    var cancel = $("#cancel");
    if (cancel) cancel.addEventListener("click", function () {
      if (!confirm("确定取消这个订单吗？")) return;
      api("POST", "/api/orders/" + id + "/cancel", { reason: "顾客取消" }).then(function (r) {
        toast(r.outcome === "requested" ? "已申请取消，等待门店处理" : "订单已取消");
        setTimeout(function () { location.reload(); }, 800);
      }).catch(function (e) { toast(friendly(e)); });
    });
  };
  window.H5 = H5;
})();
