package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// The LoRa Cloud "LoRa + Wi-Fi" solver (wifi.md §2.2), answered by the
// GeolocationService's Wi-Fi solver in-process:
//
//	POST /api/v1/solve/loraWifi
//	     {"lorawan": [{"gatewayId", "rssi", "snr", "toa", "antennaId", "antennaLocation"}…],
//	      "wifiAccessPoints": [{"macAddress": "aa:bb:cc:dd:ee:ff", "signalStrength": -70}…]}
//
// The result is {"latitude", "longitude", "altitude", "accuracy",
// "algorithmType": "Wifi", "numberOfGatewaysReceived",
// "numberOfGatewaysUsed"}. Only the access points are used: the gateways
// (often a single fake one that clients add so that a Wi-Fi-only query is
// accepted) are counted, never used, and the altitude is 0. A request that
// gives no fix answers 200 with "result": null and the reason in
// "errors"; malformed requests 400; a server without the Wi-Fi solver 501.

type loraWifiAP struct {
	MACAddress     string   `json:"macAddress"`
	SignalStrength *float64 `json:"signalStrength"`
	// Accepted (MLS clients send them) and not used.
	Age                *float64 `json:"age"`
	Channel            *float64 `json:"channel"`
	Frequency          *float64 `json:"frequency"`
	SignalToNoiseRatio *float64 `json:"signalToNoiseRatio"`
	SSID               *string  `json:"ssid"`
}

type loraWifiBody struct {
	LoRaWAN          []json.RawMessage `json:"lorawan"`
	WiFiAccessPoints []loraWifiAP      `json:"wifiAccessPoints"`
}

// loraWifiResult is the LoRa Cloud loraWifi result.
type loraWifiResult struct {
	Latitude                 float64 `json:"latitude"`
	Longitude                float64 `json:"longitude"`
	Altitude                 float64 `json:"altitude"`
	Accuracy                 float64 `json:"accuracy"`
	AlgorithmType            string  `json:"algorithmType"`
	NumberOfGatewaysReceived int     `json:"numberOfGatewaysReceived"`
	NumberOfGatewaysUsed     int     `json:"numberOfGatewaysUsed"`
}

// loraWifiFields renames the SolveWifi fields in errors to the loraWifi ones.
var loraWifiFields = strings.NewReplacer("access_points", "wifiAccessPoints", ".mac:", ".macAddress:", ".rssi:", ".signalStrength:")

func (a *API) loraWifi(r *request) (*reply, error) {
	g := a.opts.Geolocation
	if g == nil || g.WiFi == nil {
		return notAvailable("Wi-Fi (loraWifi)")(a, r)
	}
	var body loraWifiBody
	if err := decodeJSON(r.body, &body); err != nil {
		return nil, err
	}
	req := &mgsv1.SolveWifiRequest{}
	for _, ap := range body.WiFiAccessPoints {
		o := &mgsv1.WifiObservation{Mac: ap.MACAddress}
		if s := ap.SignalStrength; s != nil && !math.IsNaN(*s) {
			o.Rssi = int32(math.Max(-1000, math.Min(1000, math.Round(*s))))
		}
		req.AccessPoints = append(req.AccessPoints, o)
	}
	resp, err := g.SolveWifi(r.Context(), req)
	if st, ok := status.FromError(err); ok && st.Code() == codes.InvalidArgument {
		return nil, badRequest("%s", loraWifiFields.Replace(st.Message()))
	}
	if err != nil {
		return nil, err
	}
	s := resp.Solution
	if s == nil {
		msg := "no position"
		if len(resp.Errors) > 0 {
			msg = strings.Join(resp.Errors, "; ")
		}
		return nil, &apiError{http.StatusOK, msg}
	}
	return &reply{result: &loraWifiResult{Latitude: s.Latitude, Longitude: s.Longitude, Accuracy: math.Round(s.Accuracy*10) / 10,
		AlgorithmType: "Wifi", NumberOfGatewaysReceived: len(body.LoRaWAN)}, warnings: resp.Warnings}, nil
}
