/* Member page: the rotating QR code (refreshed before its 60 s run out), top-up by WeChat Pay, statement paging. */
(function () {
  "use strict";
  var H5 = window.H5, box = document.getElementById("member");
  if (!H5 || !box) return;
  var left = 0, timer = null;
  var KINDS = { spend: "储值消费", release: "取消退回", refund: "退款退回", topup: "充值", points_earn: "消费得积分",
    points_reverse: "退款扣积分", points_spend: "积分抵扣", points_release: "取消退积分" };

  function refreshCode() {
    return H5.api("POST", "/api/member/code").then(function (c) {
      document.getElementById("qr").src = "/member/qr/" + encodeURIComponent(c.token);
      left = c.ttl_seconds - 5;  // a new one a little before the old one expires
    }).catch(function (e) { H5.toast(H5.friendly(e)); left = 10; });
  }
  function tick() {
    left -= 1;
    var l = document.getElementById("qr-left"); if (l) l.textContent = Math.max(0, left);
    if (left <= 0) refreshCode();
  }
  refreshCode(); timer = setInterval(tick, 1000);
  document.getElementById("qr-refresh").addEventListener("click", refreshCode);

  function poll(id, tries) {
    H5.api("GET", "/api/member/topups/" + id).then(function (t) {
      if (t.status === "paid") { H5.toast("充值成功"); setTimeout(function () { location.reload(); }, 600); }
      else if (tries > 0) setTimeout(function () { poll(id, tries - 1); }, 1500);
    }).catch(function () {});
  }
  Array.prototype.forEach.call(document.querySelectorAll(".plan[data-plan]"), function (btn) {
    btn.addEventListener("click", function () {
      btn.disabled = true;
      H5.api("POST", "/api/member/topups/", { plan_id: parseInt(btn.getAttribute("data-plan"), 10), channel: "JSAPI" })
        .then(function (r) {
          return new Promise(function (resolve) {
            if (typeof WeixinJSBridge === "undefined") { resolve("no_bridge"); return; }
            WeixinJSBridge.invoke("getBrandWCPayRequest", r.payment.jsapi_params, function (res) { resolve(res && res.err_msg); });
          }).then(function (msg) {
            if (msg === "get_brand_wcpay_request:ok") { H5.toast("支付成功，正在到账…"); poll(r.topup.id, 20); }
            else if (msg === "get_brand_wcpay_request:cancel") H5.toast("已取消支付");
            else H5.toast("支付未完成，请重试");
          });
        }).catch(function (e) { H5.toast(H5.friendly(e)); }).then(function () { btn.disabled = false; });
    });
  });

  var more = document.getElementById("more");
  if (more) more.addEventListener("click", function () {
    var page = parseInt(more.getAttribute("data-page"), 10) + 1;
    H5.api("GET", "/api/member/statement?page=" + page + "&page_size=20").then(function (p) {
      var ul = document.getElementById("entries");
      p.items.forEach(function (e) {
        var li = document.createElement("li"), money = e.principal_delta_fen + e.bonus_delta_fen;
        li.textContent = (KINDS[e.kind] || e.kind) + (money ? " " + H5.yuan(money) : "") +
          (e.points_delta ? " " + (e.points_delta > 0 ? "+" : "") + e.points_delta + " 分" : "");
        ul.appendChild(li);
      });
      more.setAttribute("data-page", page);
      if (page * p.page_size >= p.total) more.remove();
    }).catch(function (e) { H5.toast(H5.friendly(e)); });
  });
})();
