// Package horde serves the downstream-messaging and provisioning API of
// OpenMGS in the shape of the Telenor NB-IoT "Horde" REST API (and its
// successor Span's outbox), for every transport: messages queued here reach
// NB-IoT devices over CoAP (package lwm2m) and LoRaWAN devices as the dnlink
// of their next uplink (uplink.AppDownlinkStage).
//
// Routes (relative to where the handler is mounted):
//
//	POST   /collections/{cid}/devices/{did}/to    {"port":1..223,"payload":"<base64>"} → 204 once queued
//	POST   /collections/{cid}/to                  same body → 200 {"sent","failed","errors":[{"deviceId","message"}]}
//	POST   /collection/{cid}/to                   alias (the blog's spelling)
//	GET    /collections/{cid}/devices/{did}/outbox[?state=pending|sent|failed]  → {"messages":[…]}
//	GET    /collections/{cid}/devices/{did}/outbox/{mid}
//	DELETE /collections/{cid}/devices/{did}/outbox/{mid}   pending only → 204 (409 otherwise)
//	GET    /collections                           → {"collections":[…]}
//	POST   /collections                           {"collectionId"?,"tags"?} → 201
//	GET    /collections/{cid}
//	PATCH  /collections/{cid}                     {"tags"}
//	DELETE /collections/{cid}                     → 204 (devices return to "default")
//	GET    /collections/{cid}/devices             → {"devices":[…]}
//	POST   /collections/{cid}/devices             {"imei"|"endpoint", "deviceId"?, "opaque"?, "tags"?} → 201
//	GET    /collections/{cid}/devices/{did}
//	PATCH  /collections/{cid}/devices/{did}       {"collectionId"?,"tags"?,"opaque"?}
//	DELETE /collections/{cid}/devices/{did}       → 204 (provisioning and placement; not modem state)
//	GET    /endpoints                             → {"endpoints":[…]}
//	POST   /endpoints                             {"endpoint","deviceId"?,"opaque"?,"collectionId"?,"tags"?,"psk"?,"pskIdentity"?} → 201
//	GET    /endpoints/{name}
//	PATCH  /endpoints/{name}                      {"opaque"?,"psk"?,"pskIdentity"?,"clearPsk"?}
//	DELETE /endpoints/{name}                      → 204
//
// Device ids ({did}, "deviceId") are EUI-64s in any common spelling
// (0016c001f000406e, 00-16-C0-01-F0-00-40-6E, 00:16:…, 0x…) or provisioned
// endpoint names (IMEIs); responses use 16 lower-case hex digits. Ports are
// 1..223: the LoRaWAN FPort, and the port byte of NB-IoT framing (Horde's
// UDP port numbers do not apply). Message ids are per device.
//
// "psk" is an endpoint's DTLS pre-shared key as hex digits (1..64 bytes);
// "pskIdentity" the identity its module presents (default: the endpoint
// name). An endpoint with a key may only register over coaps. The key is
// never returned: endpoints show "pskSet" and "pskIdentity".
//
// Errors are JSON {"status": <code>, "message": "…"}: 400 bad JSON, bad
// base64, bad port or tags; 404 unknown collection, device, endpoint,
// message or route; 405 wrong method; 409 queue full, already exists, or
// deleting a message that is no longer pending; 413 body over the limit.
//
// The handler does no authentication: mount it behind the same token
// middleware as the rest of the HTTP API (Options.Wrap, or wrap the
// returned handler). Horde clients send the token in X-API-Token.
package horde
