/* Customer H5: location, store switcher, cart quantities, checkout (quote, place with an Idempotency-Key, JSAPI pay
   or a Native QR code when there is no WeixinJSBridge), the order page (live status, countdown, cancel, refund). */
(function () {
  "use strict";
  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function toast(text) {
    var t = $("#toast"); if (!t) return;
    t.textContent = text; t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(function () { t.hidden = true; }, 2500);
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
          var err = new Error(msg); err.status = r.status; err.extra = data && data.extra; throw err;
        }
        return data;
      });
    });
  }
  function skuTitle(id) {
    var li = $("[data-sku='" + id + "']"), t = li && $(".title", li);
    return t ? t.textContent : "有一件商品";
  }
  var HAS_CJK = /[\u4e00-\u9fff]/;
  // The domains answer in English for API clients; customers read Chinese. Known messages first, then any
  // message already in Chinese (coupon reasons, WeChat Pay's), else a plain fallback.
  var ZH = [
    [/not enough stock/i, function (m, e) {
      var short = (e.extra && e.extra.short) || [];
      if (!short.length) return "库存不足，请减少数量或稍后再来";
      return "库存不足：" + short.map(function (s) {
        return skuTitle(s.sku_id) + (s.available > 0 ? " 只剩 " + s.available + " 件" : " 已售罄");
      }).join("，") + "，请调整数量";
    }],
    [/coupon/i, function (m) {
      var why = HAS_CJK.test(m) ? m : (/not available yet/.test(m) ? "优惠券功能暂未开放" : "");
      return "这张优惠券不能用于本单" + (why ? "：" + why : "") + "，请换一张或不使用优惠券";
    }],
    [/within the hour/i, "附近暂时没有门店能在1小时内送达这个地址，请选择普通配送或到店自提"],
    [/the address is ([\d.]+) km from store .* within ([\d.]+) km/i, function (m, e, g) {
      return "地址距门店 " + g[1] + " 公里，超出配送范围（" + g[2] + " 公里），请选择更近的门店或到店自提";
    }],
    [/not taking orders/i, "这家门店暂停营业，请切换到其他门店"],
    [/closed at that time/i, "门店在这个时间不营业，请换一个取货时间"],
    [/is closed now/i, "门店已打烊，请选择预约自提或切换门店"],
    [/cart .* is empty/i, "购物车是空的，先去挑点商品吧"],
    [/address\.contact_name/i, "请填写联系人"],
    [/address\.phone/i, "请填写手机号"],
    [/address\.address/i, "请填写详细地址"],
    [/not one of your saved addresses/i, "这个收货地址不存在，请重新选择"],
    [/latitude|longitude|\blat\b|\blng\b/i, "地址坐标不正确，请点“用我的位置”重新定位"],
    [/phone must be/i, "手机号格式不正确"],
    [/prices changed/i, "商品价格有变动，请确认新价格后重新提交"],
    [/order total is now/i, "订单金额有变化，请确认新金额后重新提交"],
    [/prescription/i, "处方药需要上传处方照片后才能下单"],
    [/is not sold at store|SKU \d+ does not exist/i, "有商品已下架，请从购物车移除后再下单"],
    [/pickup_at must be at least/i, "取货时间至少要在15分钟以后"],
    [/pickup_at must be within/i, "只能预约3天内的取货时间"],
    [/quantity .* must be between/i, "单个商品最多买99件"],
    [/already paid/i, "这个订单已经支付过了"],
    [/is cancelled; place a new order/i, "订单已取消，请重新下单"],
    [/time to pay .* is over/i, "支付时间已过，订单将自动取消，请重新下单"],
    [/WeChat Pay is not answering/i, "微信支付暂时没有响应，请稍后重试"],
    [/WeChat Pay refused/i, "微信支付暂时无法完成这笔支付，请稍后重试"],
    [/can no longer be cancelled/i, "订单已在配送或已完成，不能取消了；收到商品后可以申请退款"],
    [/changed meanwhile|kept changing/i, "订单状态刚刚有变化，请刷新页面后重试"],
    [/refunds are asked for once/i, "订单送达或取货后才能申请退款；在此之前可以取消订单"],
    [/days after delivery/i, "已超过售后期限（送达后15天内可申请）"],
    [/still open; wait/i, "已有一笔退款申请在处理中，请等待结果"],
    [/nothing is left to refund/i, "这个订单已没有可退的金额"],
    [/say what went wrong/i, "请填写退款原因（1–300字）"],
    [/you can ask back/i, "退款数量超出了可退数量"],
    [/name at least one line/i, "请至少选择一件要退的商品"],
    [/stored value/i, "暂不支持余额支付，请使用微信支付"],
    [/Idempotency-Key/i, "订单已提交过，请到“我的订单”查看"],
    [/does not exist/i, "内容不存在或已失效，请刷新页面"],
  ];
  function friendly(err) {
    var m = String(err.message || "");
    if (err.status === 401) return "登录已过期，请刷新页面重新进入";
    for (var i = 0; i < ZH.length; i++) {
      var g = m.match(ZH[i][0]);
      if (g) return typeof ZH[i][1] === "function" ? ZH[i][1](m, err, g) : ZH[i][1];
    }
    if (HAS_CJK.test(m)) return m;
    if (err.status === 503 || err.status >= 500) return "服务暂时不可用，请稍后重试";
    if (err.status === 0 || err instanceof TypeError) return "网络不太好，请检查网络后重试";
    return "操作没有成功，请刷新页面后重试";
  }

  // WeChat's location (the sandbox shim in dev), else the browser's; calls back with null when unavailable.
  function locate(cb) {
    var done = false;
    var finish = function (lat, lng) { if (done) return; done = true; cb(lat == null ? null : { lat: lat, lng: lng }); };
    setTimeout(function () { finish(null); }, 8000);
    if (typeof WeixinJSBridge !== "undefined") {
      WeixinJSBridge.invoke("getLocation", { type: "gcj02" }, function (res) {
        if (res && /:ok$/.test(res.err_msg || "")) finish(res.latitude, res.longitude); else finish(null);
      });
    } else if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(function (p) { finish(p.coords.latitude, p.coords.longitude); },
        function () { finish(null); }, { timeout: 7000 });
    } else finish(null);
  }

  function pay(orderId) {
    // Inside WeChat (or the sandbox shim): the pay sheet. Elsewhere (a PC browser): a Native QR code.
    var channel = typeof WeixinJSBridge === "undefined" ? "NATIVE" : "JSAPI";
    return api("POST", "/api/payments/", { order_id: orderId, channel: channel }).then(function (p) {
      if (channel === "NATIVE") return { result: "qr", payment: p };
      return new Promise(function (resolve) {
        WeixinJSBridge.invoke("getBrandWCPayRequest", p.jsapi_params, function (res) {
          var msg = (res && res.err_msg) || "";
          resolve({ result: /:ok$/.test(msg) ? "ok" : /:cancel$/.test(msg) ? "cancel" : "fail", payment: p,
            desc: res && res.err_desc });
        });
      });
    });
  }

  // Checkout extension point: partials (coupon picker, member card) set fields in H5.extra (merged into
  // the quote and order bodies), listen for "quote:updated" / "quote:failed" on document, call H5.requote().
  var H5 = { extra: {}, api: api, yuan: yuan, toast: toast, friendly: friendly, locate: locate, pay: pay };
  H5.bindCatalogue = function () {
    var list = $(".products[data-store]"); if (!list) return;
    var store = list.getAttribute("data-store");
    list.addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.plus, button.minus"); if (!btn) return;
      ev.preventDefault();
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
        if (!cart.items.length && $("#checkout")) { location.reload(); return; }
        if ($("#checkout")) H5.requote();
        toast(qty > 0 ? "已加入购物车" : "已移除");
      }).catch(function (e) { toast(friendly(e)); }).then(function () { btn.disabled = false; });
    });
  };

  // The storefront picked a store without knowing where the customer is: ask once per visit, then reload there.
  H5.locateOnce = function () {
    var list = $(".products[data-locate]"); if (!list) return;
    try { if (sessionStorage.getItem("h5-located")) return; sessionStorage.setItem("h5-located", "1"); } catch (e) { return; }
    locate(function (p) {
      if (p) location.replace("/?lat=" + p.lat.toFixed(6) + "&lng=" + p.lng.toFixed(6));
    });
  };

  H5.bindStores = function () {
    var btn = $("#locate"); if (!btn) return;
    var go = function () {
      var msg = $("#locate-msg"); msg.textContent = "正在定位…"; btn.disabled = true;
      locate(function (p) {
        btn.disabled = false;
        if (!p) { msg.textContent = "没能获取位置，可以按名称搜索门店"; return; }
        var q = new URLSearchParams(location.search).get("q");
        location.replace("/stores?lat=" + p.lat.toFixed(6) + "&lng=" + p.lng.toFixed(6) + (q ? "&q=" + encodeURIComponent(q) : ""));
      });
    };
    btn.addEventListener("click", go);
    if (!/[?&]lat=/.test(location.search)) {
      try { if (!sessionStorage.getItem("h5-stores-located")) { sessionStorage.setItem("h5-stores-located", "1"); go(); } } catch (e) {}
    }
  };

  function savedAddress(form) {
    var r = form.querySelector("input[name=address_id]:checked");
    return r && r.value ? parseInt(r.value, 10) : null;
  }
  function checkoutBody(form) {
    var kind = form.querySelector("input[name=kind]:checked").value;
    var body = { store_id: parseInt(form.getAttribute("data-store"), 10), kind: kind, note: form.note.value };
    for (var k in H5.extra) if (H5.extra[k] !== undefined && H5.extra[k] !== null) body[k] = H5.extra[k];
    if (kind === "pickup") {
      if (form.pickup_at && form.pickup_at.value) body.pickup_at = form.pickup_at.value;
    } else {
      var saved = savedAddress(form);
      if (saved) body.address_id = saved;
      else body.address = { contact_name: form.contact_name.value.trim(), phone: form.phone.value.trim(),
        address: form.querySelector("input[name=address]").value.trim(),
        lat: parseFloat(form.lat.value), lng: parseFloat(form.lng.value) };
    }
    return body;
  }
  // Keep what was typed across reloads (an error, a price change): the checkout form's fields in sessionStorage.
  var KEEP = ["contact_name", "phone", "address", "lat", "lng", "note"];
  function keepTyped(form) {
    var saved = {};
    try { saved = JSON.parse(sessionStorage.getItem("h5-checkout") || "{}"); } catch (e) { saved = {}; }
    KEEP.forEach(function (n) { if (form[n] && saved[n]) form[n].value = saved[n]; });
    if (saved.kind) { var r = form.querySelector("input[name=kind][value=" + saved.kind + "]"); if (r) r.checked = true; }
    form.addEventListener("input", function () {
      var now = {}; KEEP.forEach(function (n) { if (form[n]) now[n] = form[n].value; });
      now.kind = form.querySelector("input[name=kind]:checked").value;
      try { sessionStorage.setItem("h5-checkout", JSON.stringify(now)); } catch (e) {}
    });
  }
  var lastQuote = null, quoteSeq = 0;
  function showForm(form) {
    var kind = form.querySelector("input[name=kind]:checked").value;
    $("#addr").hidden = kind === "pickup";
    var p = $("#pickup"); if (p) p.hidden = kind !== "pickup";
    var na = $("#new-addr"); if (na) na.hidden = savedAddress(form) !== null;
  }
  // Urgent is offered only when a store can deliver within the hour to this address: ask the quote, say why not.
  function probeUrgent(form, body) {
    var why = $("#urgent-why"), radio = form.querySelector("input[name=kind][value=urgent]");
    if (!why || !radio) return;
    if (body.kind === "pickup" || body.kind === "urgent") return;
    var probe = {}; for (var k in body) probe[k] = body[k];
    probe.kind = "urgent"; delete probe.coupon_id;
    api("POST", "/api/orders/quote", probe).then(function (r) {
      radio.disabled = false;
      why.hidden = false; why.textContent = "急送可用：约" + r.promise_minutes + "分钟送达，急送费 " + yuan(r.urgent_fee_fen);
    }).catch(function (e) {
      if (e.status !== 422) return;
      radio.disabled = true; why.hidden = false; why.textContent = "急送暂不可用：" + friendly(e);
    });
  }
  H5.requote = function () {
    var form = $("#checkout"); if (!form) return;
    var q = $("#quote"), err = $("#error");
    showForm(form);
    var body = checkoutBody(form);
    if (body.address && (isNaN(body.address.lat) || isNaN(body.address.lng))) { q.textContent = "请填写地址坐标，或点“用我的位置”"; return; }
    if (body.address && (!body.address.contact_name || !body.address.phone || !body.address.address)) {
      q.textContent = "请填写联系人、手机号和详细地址"; return;
    }
    var seq = ++quoteSeq;
    api("POST", "/api/orders/quote", body).then(function (r) {
      if (seq !== quoteSeq) return;
      lastQuote = r; err.hidden = true;
      var when = new Date(r.promise_at);
      var hm = ("0" + when.getHours()).slice(-2) + ":" + ("0" + when.getMinutes()).slice(-2);
      q.innerHTML = "";
      var lines = ["商品 " + yuan(r.items_fen)];
      if (r.discount_fen) lines.push("优惠 -" + yuan(r.discount_fen));
      if (r.delivery_fee_fen) lines.push("配送费 " + yuan(r.delivery_fee_fen));
      if (r.urgent_fee_fen) lines.push("急送费 " + yuan(r.urgent_fee_fen));
      if (r.stored_value_fen) lines.push("余额支付 -" + yuan(r.stored_value_fen));
      lines.push("应付 " + yuan(r.cash_due_fen));
      lines.push("预计 " + hm + (body.kind === "pickup" ? " 可取货" : " 送达") + "（约" + r.promise_minutes + "分钟）");
      if (r.prescription_required) lines.push("含处方药，需药师审核");
      lines.forEach(function (t) { var p = document.createElement("div"); p.textContent = t; q.appendChild(p); });
      q.setAttribute("data-total", r.total_fen);
      $("#place").disabled = false;
      document.dispatchEvent(new CustomEvent("quote:updated", { detail: r }));
    }).catch(function (e) {
      if (seq !== quoteSeq) return;
      lastQuote = null; q.textContent = ""; err.textContent = friendly(e); err.hidden = false;
      document.dispatchEvent(new CustomEvent("quote:failed", { detail: { status: e.status, message: e.message } }));
    });
    probeUrgent(form, body);
  };
  H5.bindCheckout = function () {
    var form = $("#checkout"); if (!form) return;
    keepTyped(form);
    var newKey = function () { return "ck-" + Date.now() + "-" + Math.random().toString(36).slice(2); };
    var key = newKey();
    form.addEventListener("change", function () {
      key = newKey();  // another order: another key
      H5.requote();
    });
    var loc = $("#use-location");
    if (loc) loc.addEventListener("click", function () {
      var msg = $("#locate-msg"); msg.textContent = "正在定位…";
      locate(function (p) {
        if (!p) { msg.textContent = "没能获取位置，请手动填写坐标"; return; }
        form.lat.value = p.lat.toFixed(6); form.lng.value = p.lng.toFixed(6); msg.textContent = "已定位";
        form.dispatchEvent(new Event("input")); key = newKey(); H5.requote();
      });
    });
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var err = $("#error"), btn = $("#place");
      var body = checkoutBody(form);
      if (lastQuote) body.expected_total_fen = lastQuote.total_fen;
      btn.disabled = true; err.hidden = true;
      api("POST", "/api/orders/", body, { "Idempotency-Key": key }).then(function (placed) {
        try { sessionStorage.removeItem("h5-checkout"); } catch (e) {}
        if (body.address && form.save_address && form.save_address.checked) {
          api("POST", "/api/customer/addresses", { contact_name: body.address.contact_name, phone: body.address.phone,
            address: body.address.address, lat: body.address.lat, lng: body.address.lng }).catch(function () {});
        }
        if (placed.cash_due_fen === 0) { location.href = "/orders/" + placed.id; return; }  // stored value paid it
        return pay(placed.id).then(function (r) {
          location.href = "/orders/" + placed.id + "?pay=" + r.result;
        }, function (e) {
          location.href = "/orders/" + placed.id + "?pay=fail";
        });
      }).catch(function (e) { err.textContent = friendly(e); err.hidden = false; btn.disabled = false; });
    });
    H5.requote();
  };

  var LABELS = { created: "待支付", paid: "已支付", reviewing: "审核中", dispatching: "派单中", accepted: "已接单",
    preparing: "备货中", ready: "待取货", out_for_delivery: "配送中", delivered: "已送达", picked_up: "已取货",
    completed: "已完成", cancelled: "已取消" };
  function showQr(p) {
    var box = $("#qr"); if (!box) return;
    var img = $("#qr-img");
    img.src = p.qr_png_url; img.setAttribute("data-code-url", p.code_url || "");
    box.hidden = false;
    var btn = $("#pay"); if (btn) btn.hidden = true;
  }
  H5.bindOrder = function () {
    var box = $("#order"); if (!box) return;
    var id = box.getAttribute("data-id"), status = box.getAttribute("data-status");
    var cd = $("#countdown");
    if (cd) {
      var promise = new Date(box.getAttribute("data-promise")).getTime();
      var tick = function () {
        var s = Math.round((promise - Date.now()) / 1000), late = s < 0;
        s = Math.abs(s);
        cd.textContent = (late ? "已超时 " : "") + ("0" + Math.floor(s / 60)).slice(-2) + ":" + ("0" + (s % 60)).slice(-2);
        cd.classList.toggle("late", late);
      };
      tick(); setInterval(tick, 1000);
    }
    var polls = 0, fast = false;
    var poll = function () {
      api("GET", "/api/orders/" + id).then(function (o) {
        if (o.status !== status) { location.reload(); return; }
        $("#status").textContent = LABELS[o.status] || o.status;
      }).catch(function () {}).then(function () {
        polls++; setTimeout(poll, fast || polls < 20 ? 2000 : 5000);
      });
    };
    if (["cancelled", "completed"].indexOf(status) < 0) setTimeout(poll, 2000);
    var payBtn = $("#pay"), state = $("#pay-state");
    var startPay = function () {
      payBtn.disabled = true;
      pay(id).then(function (r) {
        if (r.result === "qr") { showQr(r.payment); fast = true; return; }
        if (r.result === "ok") { state.className = "muted"; state.textContent = "支付成功，正在确认…"; fast = true; setTimeout(poll, 300); }
        else if (r.result === "cancel") { state.className = "muted"; state.textContent = "你取消了支付，订单已保留"; payBtn.textContent = "去支付"; }
        else { state.className = "error"; state.textContent = "支付失败，订单已保留，请重新支付"; payBtn.textContent = "重新支付"; }
      }).catch(function (e) { state.className = "error"; state.textContent = friendly(e); }).then(function () { payBtn.disabled = false; });
    };
    if (payBtn) {
      payBtn.addEventListener("click", startPay);
      // The checkout found no WeixinJSBridge: show the QR code right away.
      if (box.getAttribute("data-payment") === "qr") startPay();
    }
    var cancel = $("#cancel");
    if (cancel) cancel.addEventListener("click", function () {
      if (!confirm("确定取消这个订单吗？")) return;
      cancel.disabled = true;
      api("POST", "/api/orders/" + id + "/cancel", { reason: "顾客取消" }).then(function (r) {
        toast(r.outcome === "requested" ? "已申请取消，等待门店处理" : "订单已取消");
        setTimeout(function () { location.reload(); }, 800);
      }).catch(function (e) { var err = $("#error"); err.textContent = friendly(e); err.hidden = false; cancel.disabled = false; });
    });
    var refund = $("#refund");
    if (refund) {
      refund.addEventListener("change", function () {
        $("#refund-lines").hidden = refund.querySelector("input[name=scope]:checked").value !== "lines";
      });
      refund.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var err = $("#error"), body = { reason: refund.reason.value.trim() };
        if (refund.querySelector("input[name=scope]:checked").value === "lines") {
          body.lines = $$("input[data-sku]", refund).map(function (i) {
            return { sku_id: parseInt(i.getAttribute("data-sku"), 10), qty: parseInt(i.value, 10) || 0 };
          }).filter(function (x) { return x.qty > 0; });
        }
        var btn = $("button[type=submit]", refund); btn.disabled = true; err.hidden = true;
        api("POST", "/api/orders/" + id + "/refunds", body).then(function () {
          toast("退款申请已提交，等待门店处理");
          setTimeout(function () { location.reload(); }, 800);
        }).catch(function (e) { err.textContent = friendly(e); err.hidden = false; btn.disabled = false; });
      });
    }
  };
  window.H5 = H5;
})();
