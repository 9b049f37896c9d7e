// Package uplink is the OpenMGS modem service core: the uplink pipeline and
// the device operations (requests, ports, logs) that the gRPC and HTTP APIs
// share.
//
// An uplink runs through a list of named stages over a State: load the
// device, detect duplicates, handle session resets, route by msgtype and
// port, decode the DM frame, apply info fields, detect fulfilled requests,
// plan the downlink, and keep the books. The stages compute on a private
// copy of the device; the result is committed with compare-and-swap at the
// revision the device was read at. On a conflict the whole list runs again
// on a fresh read, so stages must be pure over (message, device). Events are
// published only after the commit.
package uplink
