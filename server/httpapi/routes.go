package httpapi

import (
	"net/http"

	"github.com/openmgs/openmgs/auth"
)

// route is one endpoint. cap 0 means public (no token).
type route struct {
	method string
	path   string // {name} matches one path segment
	cap    auth.Capability
	handle func(a *API, r *request) (*reply, error)
	// deviceError adds the top-level "error" string to every failure
	// (device/send: ChirpStack v4 and Node-RED read it).
	deviceError bool
	segs        []string
}

const v1 = "/api/v1/"

// routes is the endpoint table; openapi.json documents the same set (a
// test checks both directions).
func routes() []*route {
	return []*route{
		{method: http.MethodGet, path: "/api/openapi.json", handle: (*API).openAPI},

		{method: http.MethodPost, path: v1 + "uplink/send", cap: auth.CapUplink, handle: (*API).uplinkSend},
		{method: http.MethodPost, path: v1 + "device/send", cap: auth.CapUplink, handle: (*API).deviceSend, deviceError: true},

		{method: http.MethodPost, path: v1 + "device/info", cap: auth.CapRead, handle: (*API).deviceInfo},
		{method: http.MethodGet, path: v1 + "device/list", cap: auth.CapRead, handle: (*API).deviceList},
		{method: http.MethodPost, path: v1 + "device/list", cap: auth.CapRead, handle: (*API).deviceList},
		{method: http.MethodPost, path: v1 + "device/add", cap: auth.CapDevices, handle: (*API).deviceAdd},
		{method: http.MethodPost, path: v1 + "device/remove", cap: auth.CapDevices, handle: (*API).deviceRemove},
		{method: http.MethodPost, path: v1 + "device/ports/set", cap: auth.CapDevices, handle: (*API).devicePortsSet},
		{method: http.MethodPost, path: v1 + "device/logs/clear", cap: auth.CapDevices, handle: (*API).deviceLogsClear},

		{method: http.MethodGet, path: v1 + "account/ports", cap: auth.CapRead, handle: (*API).accountPorts},
		{method: http.MethodPost, path: v1 + "account/ports/set", cap: auth.CapDevices, handle: (*API).accountPortsSet},

		{method: http.MethodPost, path: v1 + "requests/set", cap: auth.CapRequests, handle: (*API).requestsSet},
		{method: http.MethodPost, path: v1 + "requests/clear", cap: auth.CapRequests, handle: (*API).requestsClear},
		{method: http.MethodPost, path: v1 + "requests/list", cap: auth.CapRead, handle: (*API).requestsList},

		{method: http.MethodGet, path: v1 + "token/list", cap: auth.CapAdmin, handle: (*API).tokenList},
		{method: http.MethodPost, path: v1 + "token/add", cap: auth.CapAdmin, handle: (*API).tokenAdd},
		{method: http.MethodGet, path: v1 + "token/{token}", cap: auth.CapAdmin, handle: (*API).tokenGet},
		{method: http.MethodDelete, path: v1 + "token/{token}", cap: auth.CapAdmin, handle: (*API).tokenDelete},
		{method: http.MethodPut, path: v1 + "token/{token}/update", cap: auth.CapAdmin, handle: (*API).tokenUpdate},

		{method: http.MethodPost, path: v1 + "solve/gnss_lr1110_singleframe", cap: auth.CapUplink, handle: gnssSingleframe("GNSS (LR1110 single-frame)")},
		{method: http.MethodPost, path: v1 + "solve/gnss_lr1110_multiframe", cap: auth.CapUplink, handle: (*API).gnssMultiframe},
		{method: http.MethodPost, path: v1 + "solve/gnss_lora_edge_singleframe", cap: auth.CapUplink, handle: gnssSingleframe("GNSS (LoRa Edge single-frame)")},
		{method: http.MethodPost, path: v1 + "solve/loraWifi", cap: auth.CapUplink, handle: (*API).loraWifi},

		{method: http.MethodGet, path: v1 + "almanac/full", cap: auth.CapRead, handle: (*API).almanacFull},
	}
}
