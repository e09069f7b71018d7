// Starts the vendored Swagger UI on this service's OpenAPI document (the bootstrap FastAPI would inline).
(function () {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.openapiUrl || "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    validatorUrl: null,  // never ask the public validator service: the page stays on this origin
    showExtensions: true,
    tryItOutEnabled: false,
  });
})();
