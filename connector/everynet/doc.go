// Package everynet connects OpenMGS to an Everynet network server through
// its Data API, a WebSocket carrying JSON messages (everynet.md).
//
// Every message is {"type", "meta", "params"}; meta.packet_hash correlates
// a downlink_request with its downlink_response and is the
// de-duplication key. The connector maps:
//
//	uplink            → Handler.Handle, msgtype updf: counter_up → fcnt, port,
//	                    base64 payload → bytes, radio.freq MHz → freq Hz,
//	                    datr / modulation SF+BW → dr (DataRatePlan), rx_time → timestamp
//	join_request      → Handler.Handle, msgtype joining (also info "Join request accepted")
//	downlink_request  → downlink_response {meta copied, port, base64 payload,
//	                    counter_down echoed} with the device's pending downlink
//	downlink          → the pending downlink it reports is cleared
//	status_response, location, error, warning, info → logged against the device
//
// One goroutine reads, one writes (gorilla/websocket allows one concurrent
// writer); each device's messages are handled in order by a per-device
// worker, so a slow pipeline call for one device does not delay another
// device's downlink answer. Dropped connections are re-established with
// jittered exponential backoff, asking for history from shortly before
// the last message received (from_unixtime); replayed messages already
// seen are dropped by (type, packet_hash).
//
// With a CursorStore (Config.Cursor) the replay position survives
// restarts: a Checkpoint {Time, Seen} is saved at most once per
// CursorSaveInterval and when Run returns. Time only advances over the
// prefix of received messages that are all finished (the workers finish
// out of arrival order), so it is never ahead of what the pipeline
// committed; Seen holds the keys of the processed messages that a replay
// from Time-ReplayOverlap delivers again, so the restarted connector drops
// them (the pipeline itself only recognises a repeat of a device's last
// uplink). The first connection after a restart replays from
// Time-ReplayOverlap, never further back than MaxLookBack; a history
// request the network refuses (HTTP 4xx other than 401/403/404/408/429)
// is dropped for the next connection.
package everynet
