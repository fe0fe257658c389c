// Starts Swagger UI on the spec this server serves (its `servers` already point
// here) and fills the dev key into every bearer scheme, so that "Try it out",
// then "Execute", works at once. Settings come from data- attributes of
// #swagger-ui, so the page needs no inline script.
"use strict";

(function startDocs() {
  const root = document.getElementById("swagger-ui");
  const settings = root.dataset;
  const bearerSchemes = JSON.parse(settings.bearerSchemes);

  const ui = SwaggerUIBundle({
    url: settings.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    displayRequestDuration: true,
    // The default posts the spec to validator.swagger.io: nothing leaves this machine.
    validatorUrl: null,
    onComplete() {
      for (const scheme of bearerSchemes) {
        ui.preauthorizeApiKey(scheme, settings.devKey);
      }
    },
  });
  window.ui = ui; // for the browser console, as Swagger UI's own page does
})();
