// Package lwm2m is the CoAP/LwM2M server of OpenMGS for NB-IoT modems
// (Quectel BC68/BC95/BC26 and other Huawei "CDP"-style LwM2M clients), on
// github.com/plgd-dev/go-coap/v3: CoAP over UDP (Config.Addr, 5683) and
// CoAP over DTLS 1.2 with pre-shared keys (Config.DTLSAddr, 5684; pion/dtls).
// Both listeners share one registry and one set of handlers.
//
// # Security (DTLS-PSK)
//
// A device in the LwM2M "Pre-Shared Key" mode handshakes with a PSK
// identity; Config.Keys (the fleet's identity index) supplies its key. An
// unknown identity fails the handshake, and so (by timing out, since
// records that do not decrypt are dropped) does a wrong key. The cipher
// suites are PSKCipherSuites: TLS_PSK_WITH_AES_128_CCM_8 (mandatory in
// LwM2M 1.0), _AES_128_GCM_SHA256 and _AES_128_CBC_SHA256.
//
// A session authenticated as identity I may register only the endpoint
// whose key has identity I, and update, de-register and notify only
// registrations it made; anything else is 4.03 (notifications: RST). An
// endpoint that has a key is refused over plain CoAP (4.03), also at the
// update of a registration made before the key was set; with
// Config.RequireDTLS every plain registration is. Requests to a DTLS
// device (observe, downlink writes) go over its latest session — the one
// it registered, updated or last notified on — since a server cannot open
// a session to a device behind NAT. After a restart, or when the session
// was idle for Config.SessionIdleTimeout, the device is reachable again
// once it handshakes and speaks.
//
// # Exchange (server view)
//
//	device                                   OpenMGS
//	CON POST /rd?ep=<IMEI>&lt=&b=U&lwm2m=1.0  →
//	    CF 40 </>;rt="oma.lwm2m",</19/0>,…
//	                                         ← ACK 2.01 Location-Path rd/<id>
//	                                         ← CON GET /19/0/0 Observe 0, token T
//	ACK 2.05 Observe 0, CF 0, empty         →   (the modem now may send)
//	NON 2.05 token T, CF 42, <port><data>   →   (AT+QLWULDATA / AT+QLWDATASEND)
//	                                         ← CON PUT /19/1/0 CF 42 <port><data>
//	ACK 2.04                                →   (+QLWDATARECV / +NNMI)
//	CON POST /rd/<id>[?lt=]                 →  Update  ← 2.04
//	CON DELETE /rd/<id>                     →  De-register  ← 2.02
//
// Requests to the device go to the source address of its latest Register,
// Update or notification (NAT rebinding changes the port). Notifications —
// NON or CON, with or without the Observe option, content format 42, 0,
// none, or 11542 (TLV, resource 0) — are matched by token only. A
// registration expires lt seconds after its last Register/Update.
//
// # Payload framing (object 19)
//
//	uplink   /19/0/0: port(1) ‖ payload     port 1..223
//	downlink /19/1/0: port(1) ‖ payload
//
// An uplink becomes a pipeline message {msgtype updf, port, payload, fcnt,
// dn_mtu 511}, so DM (port 199), GNSS and Wi-Fi frames run unchanged; its
// fcnt is the device's count of notifications so far (0 for the first),
// persisted in table "lwm2m". An empty notification is a bare downlink
// opportunity (no port). The pipeline's dnlink is written back framed the
// same way. A device provisioned as opaque carries application bytes only:
// its whole notification is the payload on Config.OpaquePort (operation
// "other") and downlinks are written without a port byte.
//
// # Downlinks
//
// Queued messages (package outbox) are written to /19/1/0 right after the
// device's registration, an update or an uplink, and at once when a message
// is queued for a device heard within Config.AwakeWindow (or any binding
// without Q). Delivery retries with backoff and marks each message sent or
// failed; see Server.deliver.
//
// # Bad input
//
// Requests: no ep, bad lt/b, bad link-format → 4.00; unknown or refused
// endpoint → 4.03; unknown path → 4.04; wrong method → 4.05; unsupported
// lwm2m version → 4.12; content format other than 40/0 → 4.15.
// Notifications with an unknown token, an oversized payload, a bad port
// byte or an unsupported content format → RST. All are logged (Warn) and
// nothing is stored.
package lwm2m
