// Package lora is the leaf vocabulary shared by every OpenMGS package: the
// EUI-64 device key and GPS ↔ UTC time conversion. Standard library only.
package lora
