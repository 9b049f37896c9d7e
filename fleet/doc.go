// Package fleet is device identity and grouping: the provisioning table
// that maps NB-IoT endpoint names (IMEIs) to the EUI-64 every OpenMGS device
// is keyed by, the documented default mapping for unprovisioned endpoints,
// and collections (the broadcast targets of the downstream API).
//
// # Default endpoint mapping
//
// An unprovisioned endpoint whose name is an IMEI — 15 decimal digits with
// a valid Luhn check digit, optionally written "urn:imei:<IMEI>" — maps to
//
//	EUI-64 = 0x0E ‖ the first 14 IMEI digits as BCD (7 bytes)
//
// e.g. IMEI 867723030005655 → 0e-86-77-23-03-00-05-65. The mapping is
// reversible: the check digit (dropped) is recomputed from the other 14
// (EUIToIMEI). The first octet 0x0E has the locally-administered bit set
// and the group bit clear, so it cannot collide with a manufacturer-assigned
// (universally administered) LoRaWAN DevEUI. Other names have no default
// mapping and must be provisioned. With PolicyReject, only provisioned
// endpoints are accepted.
//
// # Storage
//
// Table "nbiot_endpoints": key "n/<name>" → JSON {"eui","opaque","created",
// "psk_identity","psk"}; key "e/<8-byte EUI>" → the name (reverse index);
// key "i/<PSK identity>" → the name (the DTLS handshake's key lookup, two
// point reads). Record and index entries are written in one Write.
//
// # Pre-shared keys
//
// An endpoint may have a DTLS pre-shared key (1..64 bytes) and a PSK
// identity (1..128 printable ASCII characters, default the endpoint name,
// unique across endpoints). The key is a secret: Endpoint never carries it
// back (HasPSK tells), and only PSK hands it out, for the handshake. An
// endpoint with a key may only register over DTLS with its identity (see
// package lwm2m).
//
// Table "collections": key "c/<id>" → JSON {"tags","created"}; key
// "d/<8-byte EUI>" → JSON {"collection","tags"} (a device's placement); key
// "m/<id>/<8-byte EUI>" → empty (member index). The collection "default"
// always exists; it holds every known device without a placement elsewhere.
// A device is known when it has state in the devices table (it sent an
// uplink or has requests), is a provisioned endpoint, or has a placement.
package fleet
