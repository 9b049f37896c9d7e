package fleet

import (
	"errors"
	"fmt"
	"strings"

	"github.com/openmgs/openmgs/internal/lora"
)

// IMEIPrefix is the first octet of every default-mapped EUI-64.
const IMEIPrefix = 0x0E

// URNPrefix is the LwM2M URN form of an IMEI endpoint name.
const URNPrefix = "urn:imei:"

// ErrNotIMEI is wrapped when a name has no default mapping.
var ErrNotIMEI = errors.New("fleet: not an IMEI")

// NormalizeIMEI strips the "urn:imei:" prefix (any case) and checks that
// what remains is 15 decimal digits with a valid Luhn check digit.
func NormalizeIMEI(name string) (string, error) {
	s := name
	if len(s) >= len(URNPrefix) && strings.EqualFold(s[:len(URNPrefix)], URNPrefix) {
		s = s[len(URNPrefix):]
	}
	if len(s) != 15 {
		return "", fmt.Errorf("%w: %q does not have 15 digits", ErrNotIMEI, name)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%w: %q has a non-digit", ErrNotIMEI, name)
		}
	}
	if luhn(s[:14]) != s[14] {
		return "", fmt.Errorf("%w: %q has check digit %c, want %c", ErrNotIMEI, name, s[14], luhn(s[:14]))
	}
	return s, nil
}

// luhn returns the Luhn check digit of the decimal digits in s.
func luhn(s string) byte {
	sum := 0
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if (len(s)-1-i)%2 == 0 { // doubled: every second digit from the right of the payload
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// IMEIToEUI is the default mapping: 0x0E followed by the first 14 IMEI
// digits as BCD. It accepts the forms NormalizeIMEI accepts.
func IMEIToEUI(name string) (lora.EUI64, error) {
	s, err := NormalizeIMEI(name)
	if err != nil {
		return lora.EUI64{}, err
	}
	var e lora.EUI64
	e[0] = IMEIPrefix
	for i := range 7 {
		e[1+i] = (s[2*i]-'0')<<4 | (s[2*i+1] - '0')
	}
	return e, nil
}

// EUIToIMEI reverses IMEIToEUI; ok is false for an EUI outside the mapping.
func EUIToIMEI(e lora.EUI64) (imei string, ok bool) {
	if e[0] != IMEIPrefix {
		return "", false
	}
	b := make([]byte, 0, 15)
	for _, x := range e[1:] {
		hi, lo := x>>4, x&0x0f
		if hi > 9 || lo > 9 {
			return "", false
		}
		b = append(b, '0'+hi, '0'+lo)
	}
	b = append(b, luhn(string(b)))
	return string(b), true
}
