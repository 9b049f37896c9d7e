package wifidb_test

import (
	"compress/gzip"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/wifidb"
)

// importStats runs an import and checks its counts.
func importText(t *testing.T, db *wifidb.DB, f wifidb.Format, text string) wifidb.ImportStats {
	t.Helper()
	var last wifidb.ImportStats
	st, err := db.Import(context.Background(), strings.NewReader(text), f, func(s wifidb.ImportStats) { last = s })
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if !last.Done || last.Rows != st.Rows || last.Bytes != int64(len(text)) {
		t.Fatalf("last progress %+v, result %+v", last, st)
	}
	return st
}

func checkCounts(t *testing.T, got wifidb.ImportStats, rows, accepted, created, updated int64, rejected map[string]int64) {
	t.Helper()
	if got.Rows != rows || got.Accepted != accepted || got.Created != created || got.Updated != updated {
		t.Errorf("rows %d accepted %d created %d updated %d, want %d %d %d %d", got.Rows, got.Accepted, got.Created, got.Updated,
			rows, accepted, created, updated)
	}
	if diff := cmp.Diff(rejected, got.Rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	if got.Rows != got.Accepted+got.RejectedTotal() {
		t.Errorf("rows %d != accepted %d + rejected %d", got.Rows, got.Accepted, got.RejectedTotal())
	}
}

const csvFile = `# exported by hand
mac,lat,lon,accuracy
00:11:22:33:44:55,52.3702,4.8952,12
A0-B1-C2-D3-E4-F5,52.3703,4.8953,
6c7d8e9fa0b1,52.3704,4.8954
zz:11:22:33:44:55,52.1,4.1,1
02:11:22:33:44:55,52.1,4.1,1
01:00:5e:00:00:01,52.1,4.1,1
00:11:22:33:44:56,95,4.1,1
00:11:22:33:44:57,0,0,1
00:11:22:33:44:58,52,4,-5
00:11:22:33:44:59,52,4,many
00:11:22:33:44:5a,north,4,1
00:11:22:33:44:55,52.9,4.9,1
00:11:22:33:44:5b,52

00:11:22:33:44:5c,"52.5",4.5,3
`

func TestImportCSV(t *testing.T) {
	db, _, _ := newDB(t)
	st := importText(t, db, wifidb.FormatCSV, csvFile)
	checkCounts(t, st, 14, 4, 4, 0, map[string]int64{wifidb.RejectBadMAC: 2, wifidb.RejectLocal: 1, wifidb.RejectBadCoordinate: 3,
		wifidb.RejectBadAccuracy: 2, wifidb.RejectDuplicate: 1, wifidb.RejectMalformed: 1})
	if st.Format != wifidb.FormatCSV || db.Len() != 4 {
		t.Fatalf("format %q, %d APs", st.Format, db.Len())
	}
	r, err := db.Get(context.Background(), mac(t, "00:11:22:33:44:55"))
	if err != nil {
		t.Fatal(err)
	}
	want := wifidb.Record{MAC: mac(t, "00:11:22:33:44:55"), Lat: 52.3702, Lon: 4.8952, Accuracy: 12, Observations: 1,
		FirstSeen: clock.Unix(), LastSeen: clock.Unix(), Source: wifidb.SourceImport}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Fatalf("record (-want +got):\n%s", diff)
	}
	if r, _ := db.Get(context.Background(), mac(t, "a0:b1:c2:d3:e4:f5")); r.Accuracy != 0 {
		t.Fatalf("empty accuracy stored as %v", r.Accuracy)
	}

	// A second import replaces the position, keeps the first sighting and
	// counts the observation.
	st = importText(t, db, wifidb.FormatAuto, "00:11:22:33:44:55,52.38,4.9,20\n")
	checkCounts(t, st, 1, 1, 0, 1, nil)
	r, _ = db.Get(context.Background(), mac(t, "00:11:22:33:44:55"))
	if r.Lat != 52.38 || r.Accuracy != 20 || r.Observations != 2 || r.FirstSeen != clock.Unix() {
		t.Fatalf("replaced record %+v", r)
	}
}

func TestImportCSVHeaderNamesColumns(t *testing.T) {
	db, _, _ := newDB(t)
	st := importText(t, db, wifidb.FormatCSV, "bssid,accuracy,longitude,latitude,observations\n00:11:22:33:44:55,7,4.5,52.5,9\n")
	checkCounts(t, st, 1, 1, 1, 0, nil)
	r, _ := db.Get(context.Background(), mac(t, "00:11:22:33:44:55"))
	if r.Lat != 52.5 || r.Lon != 4.5 || r.Accuracy != 7 {
		t.Fatalf("record %+v", r)
	}
	if _, err := db.Import(context.Background(), strings.NewReader("mac,latitude\n"), wifidb.FormatCSV, nil); !errors.Is(err, wifidb.ErrFormat) {
		t.Fatalf("header without lon: %v", err)
	}
}

func TestImportJSON(t *testing.T) {
	db, _, _ := newDB(t)
	arr := ` [
	 {"mac":"00:11:22:33:44:55","lat":52.37,"lon":4.89,"accuracy":15},
	 {"macAddress":"00-11-22-33-44-56","latitude":52.38,"lng":4.88},
	 {"bssid":"001122334457","lat":52.39,"longitude":4.87,"extra":[1,2]},
	 {"mac":"00:11:22:33:44:58","lat":"north","lon":4.8},
	 {"mac":"00:11:22:33:44:59","lon":4.8},
	 {"mac":"02:11:22:33:44:5a","lat":52,"lon":4.8},
	 {"mac":"00:11:22:33:44:55","lat":52,"lon":4.8}
	]`
	st := importText(t, db, wifidb.FormatAuto, arr)
	if st.Format != wifidb.FormatJSON {
		t.Fatalf("detected %q", st.Format)
	}
	checkCounts(t, st, 7, 3, 3, 0, map[string]int64{wifidb.RejectMalformed: 2, wifidb.RejectLocal: 1, wifidb.RejectDuplicate: 1})

	lines := "{\"mac\":\"00:11:22:33:44:60\",\"lat\":52.4,\"lon\":4.8,\"accuracy\":5}\n\n{broken\n{\"mac\":\"00:11:22:33:44:61\",\"lat\":52.41,\"lon\":4.81}\n"
	st = importText(t, db, wifidb.FormatJSON, lines)
	checkCounts(t, st, 3, 2, 2, 0, map[string]int64{wifidb.RejectMalformed: 1})
	if db.Len() != 5 {
		t.Fatalf("%d APs", db.Len())
	}
	if _, err := db.Import(context.Background(), strings.NewReader(`[{"mac":"00:11:22:33:44:62","lat":1,"lon":1},`), wifidb.FormatJSON, nil); !errors.Is(err, wifidb.ErrFormat) {
		t.Fatalf("truncated array: %v", err)
	}
}

// A WiGLE 1.6 export: a phone walked past AP 1 three times; other rows
// are Bluetooth, cell, opted-out, without fix, randomised or broken.
const wigleFile = `WigleWifi-1.6,appRelease=2.70,model=Pixel 7,release=14,device=panther,display=UQ1A,board=panther,brand=google,star=Sol,body=3,subBody=0
MAC,SSID,AuthMode,FirstSeen,Channel,Frequency,RSSI,CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,RCOIs,MfgrId,Type
00:11:22:33:44:55,"Cafe, free",[WPA2-PSK-CCMP][ESS],2024-05-01 10:00:00,6,2437,-60,52.3700,4.8900,10,5,,,WIFI
00:11:22:33:44:55,"Cafe, free",[WPA2-PSK-CCMP][ESS],2024-05-01 10:05:00,6,2437,-80,52.3702,4.8900,10,5,,,WIFI
00:11:22:33:44:55,"Cafe, free",[WPA2-PSK-CCMP][ESS],2024-05-01 09:55:00,6,2437,-60,52.3700,4.8900,10,5,,,WIFI
a0:b1:c2:d3:e4:f5,,[ESS],2024-05-01 10:01:00,11,2462,-75,52.3710,4.8910,10,8,,,WIFI
00:11:22:33:44:66,Headphones,Misc;,2024-05-01 10:01:00,0,0,-50,52.37,4.89,10,5,,,BLE
310260_12345_678901,T-Mobile,GSM;us,2024-05-01 10:01:00,0,0,-90,52.37,4.89,10,5,,,GSM
00:11:22:33:44:77,home_nomap,[WPA2],2024-05-01 10:01:00,1,2412,-70,52.37,4.89,10,5,,,WIFI
00:11:22:33:44:88,nofix,[WPA2],2024-05-01 10:01:00,1,2412,-70,0.0,0.0,0,0,,,WIFI
da:a1:19:00:00:01,Pixel hotspot,[WPA2],2024-05-01 10:01:00,1,2412,-40,52.37,4.89,10,5,,,WIFI
not-a-mac,x,[WPA2],2024-05-01 10:01:00,1,2412,-70,52.37,4.89,10,5,,,WIFI
00:11:22:33:44:99,bad acc,[WPA2],2024-05-01 10:01:00,1,2412,-70,52.37,4.89,10,-1,,,WIFI
`

func TestImportWiGLE(t *testing.T) {
	db, _, _ := newDB(t)
	st := importText(t, db, wifidb.FormatAuto, wigleFile)
	if st.Format != wifidb.FormatWiGLE {
		t.Fatalf("detected %q", st.Format)
	}
	checkCounts(t, st, 11, 4, 2, 0, map[string]int64{wifidb.RejectNotWiFi: 2, wifidb.RejectNoMap: 1, wifidb.RejectBadCoordinate: 1,
		wifidb.RejectLocal: 1, wifidb.RejectBadMAC: 1, wifidb.RejectBadAccuracy: 1})
	r, err := db.Get(context.Background(), mac(t, "00:11:22:33:44:55"))
	if err != nil {
		t.Fatal(err)
	}
	// Weights: −60 dBm ≈ 4.6 m range, −80 dBm ≈ 21.5 m; σ² = (5² + d²)/2.
	w1 := 2 / (25 + math.Pow(10, 20.0/30*2))
	w2 := 2 / (25 + math.Pow(10, 40.0/30*2))
	wantLat := 52.37 + 0.0002*w2/(2*w1+w2)
	t0, _ := time.Parse("2006-01-02 15:04:05", "2024-05-01 09:55:00")
	if math.Abs(r.Lat-wantLat) > 2e-7 || r.Lon != 4.89 || r.Observations != 3 || r.Source != wifidb.SourceWiGLE ||
		r.FirstSeen != t0.Unix() || r.LastSeen != t0.Unix()+600 || r.Accuracy != math.Max(5, 1/math.Sqrt(2*w1+w2)) {
		// (1/√Σw is 3.3 m here: floored at Options.MinAccuracy, 5 m.)
		t.Fatalf("record %+v (want lat %.7f)", r, wantLat)
	}

	// Importing the same walk again refines (averages in) instead of replacing.
	st = importText(t, db, wifidb.FormatWiGLE, wigleFile)
	if st.Created != 0 || st.Updated != 2 {
		t.Fatalf("second import %+v", st)
	}
	r2, _ := db.Get(context.Background(), mac(t, "00:11:22:33:44:55"))
	if r2.Observations != 6 || math.Abs(r2.Lat-r.Lat) > 2e-7 || r2.LastSeen != r.LastSeen {
		t.Fatalf("refined %+v, was %+v", r2, r)
	}
}

func TestImportWiGLE14AndBadHeader(t *testing.T) {
	db, _, _ := newDB(t)
	v14 := "WigleWifi-1.4,appRelease=2.26,model=x,release=x,device=x,display=x,board=x,brand=x\n" +
		"MAC,SSID,AuthMode,FirstSeen,Channel,RSSI,CurrentLatitude,CurrentLongitude,AltitudeMeters,AccuracyMeters,Type\n" +
		"00:11:22:33:44:55,a,[ESS],2020-01-01 00:00:00,6,-70,48.85,2.35,30,10,WIFI\n" +
		"00:11:22:33:44:56,b,[ESS],2020-01-01 00:00:01,6,-70,48.851,2.351,30,10,WIFI\n"
	st := importText(t, db, wifidb.FormatWiGLE, v14)
	checkCounts(t, st, 2, 2, 2, 0, nil)
	for _, bad := range []string{
		"WigleWifi-1.6,appRelease=1\nSSID,Channel\n00:11:22:33:44:55,x\n",
		"00:11:22:33:44:55,52,4\n",
	} {
		if _, err := db.Import(context.Background(), strings.NewReader(bad), wifidb.FormatWiGLE, nil); !errors.Is(err, wifidb.ErrFormat) {
			t.Errorf("%q: %v, want ErrFormat", bad, err)
		}
	}
	if _, err := wifidb.ParseFormat("kml"); !errors.Is(err, wifidb.ErrFormat) {
		t.Errorf("ParseFormat(kml) = %v", err)
	}
	if f, err := wifidb.ParseFormat(" WiGLE "); err != nil || f != wifidb.FormatWiGLE {
		t.Errorf("ParseFormat(WiGLE) = %q %v", f, err)
	}
}

func TestImportProgressAndBatches(t *testing.T) {
	path := t.TempDir() + "/mgs.db"
	st := openStore(t, path)
	defer st.Close()
	db, err := wifidb.Open(context.Background(), st, &wifidb.Options{BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	data := randomAPs(120_000, 3)
	var reports []wifidb.ImportStats
	res, err := db.Import(context.Background(), strings.NewReader(string(data)), wifidb.FormatAuto, func(s wifidb.ImportStats) {
		reports = append(reports, s)
	})
	if err != nil || res.Created != 120_000 || db.Len() != 120_000 {
		t.Fatalf("import: %+v %v, %d APs", res, err, db.Len())
	}
	// A report per batch of 1000 and per 50,000 rows, plus the final one.
	if len(reports) < 120 || !reports[len(reports)-1].Done {
		t.Fatalf("%d reports", len(reports))
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Rows < reports[i-1].Rows || reports[i].Bytes < reports[i-1].Bytes {
			t.Fatalf("progress went backwards at %d: %+v then %+v", i, reports[i-1], reports[i])
		}
	}
}

func TestImportGzip(t *testing.T) {
	db, _, _ := newDB(t)
	var b strings.Builder
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(wigleFile))
	zw.Close()
	st := importText(t, db, wifidb.FormatAuto, b.String())
	if st.Format != wifidb.FormatWiGLE || st.Created != 2 {
		t.Fatalf("gzip import %+v", st)
	}
	if _, err := db.Import(context.Background(), strings.NewReader("\x1f\x8bjunk"), wifidb.FormatAuto, nil); !errors.Is(err, wifidb.ErrFormat) {
		t.Fatalf("bad gzip: %v", err)
	}
}
