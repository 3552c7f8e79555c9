meta:
  id: lite_variant
  title: CLx LiteVariant, the binary metadata encoding of ND2 version 3.x
  endian: le
  license: MIT
  ks-version: '0.11'
doc: |
  A LiteVariant stream is a sequence of records; a chunk payload holds one root
  record (a LEVEL named after the C++ class, e.g. SLxImageAttributes). Readers decode
  only that first record; anything after it is kept here as `trailing`.
doc-ref: docs/format.md#lite_variant
seq:
  - id: root
    type: record
    doc: The first (root) record of the stream.
  - id: trailing
    size-eos: true
    doc: Bytes after the root record (empty in conforming chunks).
types:
  record:
    doc: One LiteVariant record (type, name, value).
    doc-ref: docs/format.md#lite_variant
    -nd2kit:
      fast: tagged_tree
      tag: type
      container: level
      compressed: compressed
    seq:
      - id: type
        type: u1
        enum: lv_type
        valid:
          any-of:
            - lv_type::bool
            - lv_type::int32
            - lv_type::uint32
            - lv_type::int64
            - lv_type::uint64
            - lv_type::double
            - lv_type::void_pointer
            - lv_type::string
            - lv_type::byte_array
            - lv_type::level
            - lv_type::compress
        doc: |
          Type code of the value. 0 (unknown) and 10 (deprecated) are invalid; 7
          (void pointer) is read as u8 like nd2 does, but writers never emit it.
      - id: name_len
        type: u1
        doc: |
          Number of UTF-16 code units of the name including the terminating NUL. In
          a COMPRESS record this byte is the first of 11 opaque bytes.
      - id: name
        type: str
        size: name_len * 2
        encoding: UTF-16LE
        if: type != lv_type::compress
        doc: |
          Name, UTF-16LE; the last code unit is the NUL terminator (strip it in
          application code). Empty for list items.
      - id: value
        doc: The value, encoded according to `type`.
        type:
          switch-on: type
          cases:
            'lv_type::bool': u1
            'lv_type::int32': s4
            'lv_type::uint32': u4
            'lv_type::int64': s8
            'lv_type::uint64': u8
            'lv_type::double': f8
            'lv_type::void_pointer': u8
            'lv_type::string': string_value
            'lv_type::byte_array': byte_array
            'lv_type::level': level
            'lv_type::compress': compressed
  string_value:
    doc: STRING value, UTF-16LE code units up to a 00 00 unit; no length prefix.
    seq:
      - id: value
        type: strz
        encoding: UTF-16LE
        doc: The text; the terminator is a whole 2-byte code unit.
  byte_array:
    doc: BYTEARRAY value.
    seq:
      - id: len
        type: u8
        doc: Number of bytes that follow.
      - id: data
        size: len
        doc: The raw bytes (pItemValid flags, raw f64 matrices, nested LiteVariant...).
  level:
    doc: |
      LEVEL value: a struct or list of child records followed by an offset table.
      Children with empty names form a list.
    doc-ref: docs/format.md#lite_variant
    seq:
      - id: item_count
        type: u4
        doc: Number of direct child records.
      - id: length
        type: u8
        doc: |
          Bytes from the record's first byte (the type code) to the end of the last
          child, excluding this level's own offset table.
      - id: body
        type: level_body
        size: length - (14 + _parent.name_len * 2)
        doc: The children (and any bytes `length` covers beyond them).
      - id: offsets
        type: u8
        repeat: expr
        repeat-expr: item_count
        doc: |
          Offset of each child relative to the level record's first byte; writers
          sort it by child name, readers ignore it.
  level_body:
    doc: The bytes a LEVEL's `length` covers after its header.
    seq:
      - id: children
        type: record
        repeat: expr
        repeat-expr: _parent.item_count
        doc: Exactly item_count child records.
      - id: gap
        size-eos: true
        doc: Bytes between the last child and `length` (empty in conforming files).
  compressed:
    doc: |
      COMPRESS (type 76) record body: 10 more opaque bytes (after the type byte and the
      byte read as name_len), then a zlib stream up to the end of the enclosing buffer
      that inflates to a complete LiteVariant stream.
    doc-ref: docs/format.md#lite_variant
    seq:
      - id: reserved
        size: 10
        doc: |
          Opaque to both readers. In NIS-written files (corpus: CustomDescriptionV1_0,
          MoleculeAnalysisV1_0) the byte read as name_len plus these 10 bytes are
          ASCII 'V0Z', a u32 holding the inflated size of the stream, and 4 zero bytes;
          files with zeros here read fine in nd2 and limnd2.
      - id: inflated
        size-eos: true
        process: zlib
        type: lite_variant
        doc: The inflated LiteVariant stream.
enums:
  lv_type:
    0: unknown
    1: bool
    2: int32
    3: uint32
    4: int64
    5: uint64
    6: double
    7: void_pointer
    8: string
    9: byte_array
    10: deprecated
    11: level
    76: compress
