package modemproto_test

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/openmgs/openmgs/modemproto"
)

func ExampleDecodeUplink() {
	frame, _ := hex.DecodeString("0008" + "02a5" + "03e7" + "040e1c" + "0a81" + "05")
	u, err := modemproto.DecodeUplink(frame)
	fmt.Println(u.Present)
	fmt.Println(u.Fields.Voltage, u.Fields.Temp, u.Fields.Signal.RSSI, u.Fields.Signal.SNR, u.Fields.Interval)
	fmt.Println(errors.Is(err, modemproto.ErrShort), err)
	// Output:
	// {status,voltage,temp,signal,interval}
	// 3.3 -25 -50 7 1h
	// true modemproto: uptime at offset 11: short frame: need 2 value bytes, 0 left
}

func ExampleDownlink_AppendBinary() {
	var tags []modemproto.Tag
	for _, name := range []string{"temp", "signal", "rstcount"} { // GETINFO param
		t, _ := modemproto.ParseTagName(name)
		tags = append(tags, t)
	}
	b, err := modemproto.Downlink{Command: modemproto.GetInfo{Tags: tags}}.AppendBinary(nil)
	fmt.Printf("% x %v\n", b, err)

	_, err = modemproto.Downlink{Command: modemproto.GetInfo{Tags: []modemproto.Tag{modemproto.TagStream}}}.AppendBinary(nil)
	fmt.Println(err)
	// Output:
	// 00 00 03 03 04 0f <nil>
	// modemproto: tag not allowed: stream in GETINFO
}
