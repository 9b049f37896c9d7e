// Package outbox is the downstream message queue of OpenMGS, shared by every
// transport: applications queue a message (port + payload) for a device,
// and the transport that next reaches the device delivers it — LoRaWAN as
// the dnlink of the next uplink response (uplink.AppDownlinkStage), NB-IoT as
// a CoAP write to /19/1/0 (package lwm2m).
//
// A message is pending until a transport marks it sent or failed. Each
// device has a bounded queue: at most Config.MaxPending pending messages
// (default 16); Enqueue beyond that fails with ErrQueueFull. Sent and failed
// messages stay listable, the newest Config.MaxHistory of them per device
// (default 16); older ones are dropped. Only pending messages can be
// deleted.
//
// Storage: table "outbox". Keys are the device EUI (8 bytes, big-endian)
// followed by the message id (8 bytes, big-endian), so a device's messages
// are contiguous and in queue order. Id 0 is the device's meta record (the
// next id, so ids are never reused after a delete). Values are JSON:
//
//	{"port":1,"payload":"<base64>","state":"pending","created":<unix ns>,
//	 "updated":<unix ns>,"sent":<unix ns>,"transport":"coap",
//	 "attempts":0,"error":""}
//
// Writes of one device are serialised by the Outbox (one instance per
// store); reads are lock-free.
package outbox
