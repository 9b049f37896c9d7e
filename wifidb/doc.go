// Package wifidb is the Wi-Fi access-point database of OpenMGS: one
// record per BSSID in the store table "wifi_aps", mirrored in memory by a
// solver/wifi.Index for the solver (DB implements wifi.APSource and
// wifi.NearbySource), plus imports, sightings and learning.
//
// # Stored record
//
// Key: the MAC as 8 bytes, big-endian (wifi.MACKey: two zero bytes, then
// the six octets), so keys sort like MACs. Value, version 1, 26 bytes,
// big-endian:
//
//	0  version = 1
//	1  latitude   int32, 1e-7 degrees
//	5  longitude  int32, 1e-7 degrees
//	9  accuracy   float32, metres: per-axis 1-σ of the position (0 unknown)
//	13 observations uint32: sightings and imports the position is built from
//	17 first seen uint32, Unix seconds
//	21 last seen  uint32, Unix seconds
//	25 sources    flags: 1 import, 2 wigle, 4 learned, 8 geosubmit, 16 api
//
// Longer values are accepted (later fields); records that do not decode or
// hold an impossible position are skipped when the index is loaded.
//
// # Writes
//
// One DB per store writes the table: writes are serialised by a mutex,
// stored first (store.Table.Write, sorted by key, one transaction per
// batch) and then applied to the index, so the index never holds what the
// store does not. Open loads the whole table (about 0.5 s and 140 MB per
// million APs).
//
// # Imports (DB.Import)
//
//   - csv: "mac,lat,lon[,accuracy]" rows; an optional header line naming the
//     columns (mac|bssid, lat|latitude, lon|lng|longitude, accuracy|acc|range;
//     others ignored, so exports re-import); '#' comments.
//   - json: an array of {"mac","lat","lon","accuracy"} objects, or one object
//     per line ("macAddress"/"bssid", "latitude", "lng"/"longitude" accepted).
//   - wigle: a WiGLE CSV export (wifi.md §4.1): pre-header, column header
//     (v1.4 or v1.6, columns found by name), one observation per row.
//
// csv and json give AP positions: a row replaces the stored position and
// accuracy (first sighting kept, observation counted); a MAC given twice in
// one file is rejected the second time. WiGLE rows are observations,
// averaged per MAC like sightings and merged into stored records. Rows that
// cannot be used are counted by reason (Reject… constants): bad_mac (not a
// unicast BSSID), locally_administered, bad_coordinate (including (0, 0),
// the "no fix" of loggers), bad_accuracy, duplicate, not_wifi (WiGLE BT,
// BLE and cell rows), nomap (SSID ending in "_nomap") and malformed. gzip
// input is decompressed. Imports write batches of Options.BatchSize (10,000)
// records, each one store transaction, so uplinks are not held up for long.
//
// # Sightings and learning
//
// A sighting is an AP seen from a known position (DB.Observe): a WiGLE row,
// a geosubmit item, or a device's Wi-Fi scan paired with its GNSS fix
// (Learner). Each gives weight w = 1/σ² with σ² per axis = (position
// accuracy² + d̂²)/2, d̂ the log-distance range of its RSSI (n = 3, −40 dBm
// at 1 m, clamped to 1…150 m; 50 m without RSSI). The stored position is
// the running weighted mean, its accuracy 1/√Σw floored at 5 m (sightings
// from one place are not independent), with the observation count and the
// first and last sighting times. A sighting more than 500 m from the stored
// position replaces it: the AP moved.
//
// The Learner follows the pipeline's events: when a device reports a Wi-Fi
// scan and a GNSS fix within the window (default 60 s), in either order, the
// scan's APs are sighted at the fix (its accuracy widened by 1.5 m/s × the
// time between them). The pipeline keeps the last scan of each device in
// Device.Sessions["wifi_last"] for that purpose.
package wifidb
