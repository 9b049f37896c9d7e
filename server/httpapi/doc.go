// Package httpapi serves the LoRa Cloud-compatible HTTP/JSON API of OpenMGS
// (../shared/spec/cloud-api.md), so that The Things Stack, ChirpStack v3/v4
// and the Semtech Node-RED nodes work by changing their base URL.
//
// Every modem operation decodes the LoRa Cloud JSON into the mgs.v1 request
// message (protojson, proto field names, where the shapes match), calls the
// same method of *server.Modem that the gRPC API serves, and renders the
// mgs.v1 response as LoRa Cloud JSON: there is one implementation of each
// operation. Token management calls package auth, as the gRPC TokenService
// does.
//
// Wire conventions:
//
//   - Every response is the envelope {"result", "errors", "warnings",
//     "infos"}; device/send adds a top-level "error" string on failure only
//     (Node-RED treats the mere presence of "error" as a failure, ChirpStack
//     v4 defaults it to "").
//   - Token: raw in "Authorization" (a "Bearer " prefix is tolerated), in
//     "Ocp-Apim-Subscription-Key", or in "X-API-Token" (Horde clients).
//   - EUIs are accepted dash-separated or plain, any case. Per-device result
//     maps are keyed by the EUI exactly as the request spelled it, so every
//     client finds its own key; EUIs inside objects and all hex are lower
//     case.
//   - Status codes: 200 success (also when single devices of a batch fail:
//     see their "error"); 400 bad input, with "errors" naming the field;
//     401 missing or invalid token; 403 missing capability; 404 unknown route
//     or unknown device/token; 405 wrong method; 413 body over the limit
//     (default 1 MiB); 409 concurrent-update conflict; 429 when the token's
//     rate limit is exceeded (with Retry-After) or Options.MaxConcurrent
//     requests are already being served; 501 for the solve endpoints whose
//     solver is not configured (gnss.go, wifi.go) and the full almanac
//     (format unpublished); 503 while shutting down or, for GNSS, without
//     orbit data.
//
// The routes are listed in routes.go (one table: method, path, capability,
// handler) and documented in openapi.json, served at /api/openapi.json.
package httpapi
