// Package auth checks the API tokens of the OpenMGS gRPC and HTTP APIs and
// manages the stored ones.
//
// A token is an opaque secret ("mgs_" + 43 base64url characters for the
// tokens OpenMGS issues). Clients send it raw, as LoRa Cloud clients do. The
// server never stores a secret: the "tokens" table of the store is keyed by
// the 32-byte SHA-256 of the token, and each value is a small JSON record
//
//	{"v": 1, "id": "<16 hex digits>", "name": "...", "caps": ["read", ...], "created": <unix seconds>}
//
// The id is public: listings show it instead of the secret, and the
// management operations accept it in place of the token.
//
// Tokens given on the command line (mgsd --tokens) are "static": they are
// held in memory only, have every capability and cannot be changed through
// the API. When no token of any kind exists and the server only listens on
// loopback addresses (Options.AllowOpen), every request is accepted as the
// anonymous administrator; the first token added ends that mode.
//
// Capabilities: read (device state, requests, ports, lists, metrics),
// uplink (send uplinks, solve positions), requests (queue and clear modem
// requests and downstream messages), devices (add and remove devices, set
// ports, clear logs, service-wide data: orbits, the access-point database,
// NB-IoT provisioning, collections) and admin (all of the above plus token
// management and backups).
package auth
