// Kept out of index.html so the page's Content-Security-Policy can forbid
// inline scripts.
window.addEventListener("load", function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    persistAuthorization: true,
    validatorUrl: null, // the default badge calls validator.swagger.io
  });
});
