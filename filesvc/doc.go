// Package filesvc is the pure core of LoRa Basics Modem large-file upload
// (LFU) reassembly: fragments → coded chunks → GF(2) elimination → file,
// with header parsing, hash verification and AppSKey decryption
// (modem-protocol.md §4). Standard library only; no I/O, no logging.
//
// Fragment, the value of DM uplink tag 0x0E (ParseFragment / AppendBinary):
//
//	offset size
//	0      2    D (u16 LE) = sid<<14 | sctr<<10 | (cct − 1)
//	2      8·k  k coded chunks (u64 LE), k ≥ 1
//
// Coded chunk j of the uplink with frame counter FCntUp has chunk id
// cid = phash(FCntUp) + j; its coefficient i (0 ≤ i < cct) is bit i mod 32
// of phash(cid·ceil(cct/32) + i/32), and the chunk is the XOR of the source
// chunks whose coefficient is 1. The source chunks are the virtual stream
// cut into cct = ceil((len + 12) / 8) chunks of 8 bytes:
//
//	offset size
//	0      1    port (application index)
//	1      1    encryption flag: 0 plain, 1 AppSKey-encrypted
//	2      2    file length (u16 LE), 1..8180
//	4      4    plain: SHA-256(file)[0..3]; encrypted: SHA-256(ciphertext)[0..3]
//	8      4    plain: SHA-256(file)[4..7]; encrypted: SHA-256(plaintext)[0..3]
//	12     len  file (ciphertext when encrypted), then padding to a chunk boundary
//
// Serialized Session, format version 1 (MarshalBinary / UnmarshalSession),
// all integers little-endian:
//
//	offset size
//	0      1    version = 1
//	1      2    D, as in the fragment
//	3      1    state: 0 collecting, 1 solved
//	collecting: records until the end of the input, one per uplink, in arrival order:
//	  0    4    fcnt (u32)
//	  4    4    mask (u32): bit j set = coded chunk j of that uplink is stored (non-zero)
//	  8    8·n  the n = popcount(mask) stored chunks (u64), ascending j
//	solved:
//	  4    8·cct  the source chunks (u64): the whole virtual stream
//
// A collecting session stores fewer than cct chunks: chunks with all-zero
// coefficients are never stored, and once cct chunks have arrived the
// session eliminates and keeps only the independent ones. The coefficient
// rows are recomputed from (fcnt, j), so a chunk costs 8 bytes plus 8 per
// uplink, and a half-complete 8 KiB upload about 4.5 KB.
package filesvc
