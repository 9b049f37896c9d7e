package filesvc

import (
	"crypto/aes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
)

// Source is a file prepared for upload the way the device holds it: the
// virtual stream (header || file || zero padding) as cct source chunks. It
// generates the coded fragments the device would send.
type Source struct {
	chunks []uint64
}

// EncodeFile builds the source for a plain upload of data with the given
// port (application index). Encrypted uploads need the plaintext hash in the
// header and in the nonce, which a ciphertext alone does not give, so
// encrypted = true returns ErrNotEncrypted: use EncodeEncryptedFile.
func EncodeFile(port uint8, encrypted bool, data []byte) (*Source, error) {
	if encrypted {
		return nil, fmt.Errorf("%w: an encrypted source needs the AppSKey and the plaintext; use EncodeEncryptedFile", ErrNotEncrypted)
	}
	if err := checkFileSize(len(data)); err != nil {
		return nil, err
	}
	var h [HeaderSize]byte
	h[0] = port
	binary.LittleEndian.PutUint16(h[2:], uint16(len(data)))
	sum := sha256.Sum256(data)
	copy(h[4:12], sum[:8])
	return newSource(h, data), nil
}

// EncodeEncryptedFile encrypts plain with the AppSKey (§4.5) and builds the
// source of the encrypted upload: header hash bytes 4..7 are
// SHA-256(ciphertext)[0..3], bytes 8..11 SHA-256(plain)[0..3].
func EncodeEncryptedFile(port uint8, appSKey [16]byte, plain []byte) (*Source, error) {
	if err := checkFileSize(len(plain)); err != nil {
		return nil, err
	}
	plainSum := sha256.Sum256(plain)
	cipherText := encrypt(appSKey, plain, plainSum[:4])
	cipherSum := sha256.Sum256(cipherText)
	var h [HeaderSize]byte
	h[0] = port
	h[1] = 1
	binary.LittleEndian.PutUint16(h[2:], uint16(len(plain)))
	copy(h[4:8], cipherSum[:4])
	copy(h[8:12], plainSum[:4])
	return newSource(h, cipherText), nil
}

func checkFileSize(n int) error {
	switch {
	case n == 0:
		return fmt.Errorf("filesvc: empty file: %w", ErrShort)
	case n > MaxFileSize:
		return fmt.Errorf("filesvc: file of %d bytes (max %d): %w", n, MaxFileSize, ErrTooLarge)
	}
	return nil
}

// chunkCount is cct = ceil((len + 12) / 8).
func chunkCount(fileLen int) int { return (fileLen + HeaderSize + ChunkSize - 1) / ChunkSize }

func newSource(h [HeaderSize]byte, data []byte) *Source {
	cct := chunkCount(len(data))
	stream := make([]byte, cct*ChunkSize)
	copy(stream, h[:])
	copy(stream[HeaderSize:], data)
	src := &Source{chunks: make([]uint64, cct)}
	for i := range src.chunks {
		src.chunks[i] = binary.LittleEndian.Uint64(stream[i*ChunkSize:])
	}
	return src
}

// ChunkCount returns cct.
func (src *Source) ChunkCount() int { return len(src.chunks) }

// Fragment returns the DM frame (tag 0x0E, D, coded chunks) the device sends
// in the uplink with frame counter fcnt when maxPayload bytes are available:
// k = floor((min(maxPayload, 100) − 3) / 8) coded chunks. When k = 0 the
// device sends an empty frame instead; Fragment then returns ErrShort.
func (src *Source) Fragment(sid, sctr uint8, fcnt uint32, maxPayload int) ([]byte, error) {
	cct := len(src.chunks)
	d, err := discriminator(sid, sctr, cct)
	if err != nil {
		return nil, err
	}
	k := (min(maxPayload, maxFragmentPayload) - fragmentOverhead) / ChunkSize
	if k <= 0 {
		return nil, fmt.Errorf("filesvc: max payload %d leaves no room for a chunk: %w", maxPayload, ErrShort)
	}
	out := make([]byte, 0, fragmentOverhead+k*ChunkSize)
	out = append(out, Tag)
	out = binary.LittleEndian.AppendUint16(out, d)
	row := make([]uint64, rowWords(cct))
	for j := range k {
		coefficients(row, chunkID(fcnt, j), cct)
		var c uint64
		for w, m := range row {
			for ; m != 0; m &= m - 1 {
				c ^= src.chunks[w*64+bits.TrailingZeros64(m)]
			}
		}
		out = binary.LittleEndian.AppendUint64(out, c)
	}
	return out, nil
}

// Encrypt encrypts a plain file with the AppSKey the way the device does
// before an encrypted upload (§4.5).
func Encrypt(appSKey [16]byte, plain []byte) []byte {
	sum := sha256.Sum256(plain)
	return encrypt(appSKey, plain, sum[:4])
}

// encrypt is AES-128-CTR (encryption and decryption alike) with counter
// blocks nonce(14) || i (u16 big-endian, from 1), nonce = 01 00 00 00 00 40 |
// len (u32 LE) | SHA-256(plain)[0..3].
func encrypt(key [16]byte, in []byte, plainHash []byte) []byte {
	blk, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: a 16-byte key is always valid
	}
	var a, s [16]byte
	a[0] = 0x01
	a[5] = 0x40 // upload direction / category
	binary.LittleEndian.PutUint32(a[6:], uint32(len(in)))
	copy(a[10:14], plainHash)
	out := make([]byte, len(in))
	ctr := uint16(1)
	for off := 0; off < len(in); off += 16 {
		binary.BigEndian.PutUint16(a[14:], ctr)
		ctr++
		blk.Encrypt(s[:], a[:])
		n := min(16, len(in)-off)
		for i := range n {
			out[off+i] = in[off+i] ^ s[i]
		}
	}
	return out
}
