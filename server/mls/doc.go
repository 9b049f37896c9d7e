// Package mls serves the Mozilla Location Service (ichnaea) geolocate and
// geosubmit endpoints over the Wi-Fi solver and access-point database, so
// that MLS and beaconDB clients can query and feed OpenMGS (wifi.md §4.2):
//
//	POST /v1/geolocate  {"wifiAccessPoints":[{"macAddress","signalStrength",…}],…}
//	                    → 200 {"location":{"lat","lng"},"accuracy"}
//	                    → 404 {"error":{"errors":[{"domain":"geolocation","reason":"notFound","message":"Not found"}],"code":404,"message":"Not found"}}
//	POST /v2/geosubmit  {"items":[{"timestamp","position":{"latitude","longitude","accuracy",…},"wifiAccessPoints":[…]}]}
//	                    → 200 {}
//
// Only Wi-Fi is used: cell towers, Bluetooth beacons, considerIp and IP
// fallbacks are ignored. Access points whose SSID ends in "_nomap" and
// locally administered MACs are dropped; a query needs two usable access
// points. The accuracy returned is a 95 % radius like ichnaea's (the
// solver's radius converted under a circular Gaussian). Bad JSON is
// answered 400 with ichnaea's parseError body. The handler checks no
// token: Mount puts it behind the server's token check, after moving the
// "key" query parameter MLS clients use into the Authorization header.
package mls
