// gRPC messages as pre-encoded bytes, and the protobuf encoding of the few KMS
// fields by hand with protowire (no protoc code generation).

package main

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/encoding/protowire"
)

// raw is a pre-encoded protobuf message.
type raw struct{ b []byte }

// rawCodec passes pre-encoded messages through. Forced per call, it keeps the
// content-type "application/grpc" that the apiserver's proto codec sends.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	r, ok := v.(*raw)
	if !ok {
		return nil, fmt.Errorf("rawCodec: cannot marshal %T", v)
	}
	return r.b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	r, ok := v.(*raw)
	if !ok {
		return fmt.Errorf("rawCodec: cannot unmarshal into %T", v)
	}
	r.b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// --- protobuf encoding of the KMS messages (proto3: default values omitted) ---

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	return appendBytes(b, num, []byte(v))
}

// appendMap encodes a map<string, bytes> field: one entry message per key
// (key = 1, value = 2), keys sorted for a stable encoding.
func appendMap(b []byte, num protowire.Number, m map[string][]byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		var e []byte
		e = appendString(e, 1, k)
		e = appendBytes(e, 2, m[k])
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}

// fields decodes a message into its length-delimited fields (the only kind the
// KMS messages have); other wire types are skipped. A repeated field keeps
// every occurrence; for a scalar proto3 field the last one wins.
func fields(msg []byte) (map[protowire.Number][][]byte, error) {
	out := map[protowire.Number][][]byte{}
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, fmt.Errorf("malformed protobuf tag: %v", protowire.ParseError(n))
		}
		msg = msg[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil, fmt.Errorf("malformed field %d: %v", num, protowire.ParseError(m))
			}
			out[num] = append(out[num], v)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return nil, fmt.Errorf("malformed field %d: %v", num, protowire.ParseError(m))
		}
		msg = msg[m:]
	}
	return out, nil
}

func last(f map[protowire.Number][][]byte, num protowire.Number) []byte {
	v := f[num]
	if len(v) == 0 {
		return nil
	}
	return v[len(v)-1]
}

func decodeMap(entries [][]byte) (map[string][]byte, error) {
	m := map[string][]byte{}
	for _, e := range entries {
		f, err := fields(e)
		if err != nil {
			return nil, fmt.Errorf("map entry: %v", err)
		}
		m[string(last(f, 1))] = last(f, 2)
	}
	return m, nil
}
