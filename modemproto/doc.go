// Package modemproto is the LoRa Basics Modem device-management (DM) wire
// codec: DM uplink info fields, DM downlink commands and ALCSync commands.
//
// It is pure (standard library and internal/lora only): no I/O, no logging,
// no mutable globals. Decoded byte slices never alias the input.
//
// # DM uplink (device → service, DM port, default FPort 199)
//
// A frame is a concatenation of info fields without header or length bytes:
//
//	tag(1) value(size[tag]) tag(1) value(size[tag]) ...
//
// Devices emit tags in ascending order. Fixed sizes (little-endian integers,
// EUIs byte-reversed on the wire):
//
//	0x00 status 1   0x01 charge 2    0x02 voltage 1  0x03 temp 1
//	0x04 signal 2   0x05 uptime 2    0x06 rxtime 2   0x07 firmware 8
//	0x08 adrmode 1  0x09 joineui 8   0x0A interval 1 0x0B region 1
//	0x0C opmode 4   0x0F rstcount 2  0x10 deveui 8   0x11 rfu 2
//	0x12 session 2  0x13 chipeui 8   0x15 streampar 2 0x16 appstatus 8
//	0x18 almstatus 7
//
// Variable-length tags (0x0D crashlog, 0x0E upload, 0x14 stream, 0x17
// alcsync, 0x19 dbgrsp, 0x1A gnssloc, 0x1B wifiloc) take the rest of the
// frame.
//
// # DM downlink (service → device, DM port)
//
//	upcount(1) updelay(1) opcode(1) params(1..255)
//
// One command per downlink; the device drops the whole command when the
// parameter length is outside the opcode's bounds (see Opcode.ParamLen) or,
// for GETINFO / SET_DM_INFO / SETCONF, when a tag is not accepted.
//
// # ALCSync v1.0.0 (DM tag 0x17 uplink, opcode 0x09 downlink, or port 202)
//
//	up:   00 pkgID(1) version(1)                  PackageVersionAns
//	      01 DeviceTime(u32, GPS s) param(1)       AppTimeReq (bit 4 AnsRequired, bits 3..0 TokenReq)
//	      02 status(1) time(u32)                   DeviceAppTimePeriodicityAns (bit 0 NotSupported)
//	down: 00                                       PackageVersionReq
//	      01 correction(i32 s) token(1)            AppTimeAns (bits 3..0 token)
//	      02 period(1)                             DeviceAppTimePeriodicityReq
//	      03 nbTransmissions(1)                    ForceDeviceResyncReq
package modemproto
