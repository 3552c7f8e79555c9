meta:
  id: custom_data
  title: Small binary payloads of ND2 auxiliary chunks (caches, matrices, pyramid levels, zipped JSON)
  endian: le
  license: MIT
  ks-version: '0.11'
doc: |
  Payloads that are neither LiteVariant nor XML: per-frame caches
  (`CustomData|AcqTimesCache!`, `CustomData|AcqTimes2Cache!`,
  `CustomData|AcqFramesCache!`), the 2 x 2 `matCameraToStage.Data` byte array of
  the picture metadata, stored pyramid levels
  (`CustomDataSeq|DownsampledColorData_<S>|N!`) and zlib-compressed JSON
  (`CustomData|WellPlateFrameInfoZJSON!`). Each type is the whole payload of its
  chunk (or byte array); none has a header or a length field.
doc-ref: docs/format.md#custom_data
types:
  f8_array:
    doc: |
      A payload of little-endian f64 values, one per frame in sequence order
      (`AcqTimesCache`, `AcqTimes2Cache`: acquisition times in ms).
    seq:
      - id: values
        type: f8
        repeat: expr
        repeat-expr: _io.size / 8
        doc: The values; as many as whole 8-byte units fit in the payload.
      - id: rest
        size-eos: true
        doc: Bytes after the last whole value; empty in a well-formed payload.
  u4_array:
    doc: A payload of little-endian u32 values, one per frame (`AcqFramesCache`).
    seq:
      - id: values
        type: u4
        repeat: expr
        repeat-expr: _io.size / 4
        doc: The values; as many as whole 4-byte units fit in the payload.
      - id: rest
        size-eos: true
        doc: Bytes after the last whole value; empty in a well-formed payload.
  i4_array:
    doc: |
      A payload of little-endian i32 values, one per frame: `CustomData|PFS_STATUS!`
      (Perfect Focus status code per frame) and the integer columns (tag type 2) of the
      recorded-data table `CustomData|<ID>!`.
    seq:
      - id: values
        type: s4
        repeat: expr
        repeat-expr: _io.size / 4
        doc: The values; as many as whole 4-byte units fit in the payload.
      - id: rest
        size-eos: true
        doc: Bytes after the last whole value; empty in a well-formed payload.
  camera_matrix:
    doc: |
      The `Data` byte array of `matCameraToStage` (with `Rows` = `Columns` = 2):
      four f64 matrix elements in the order they are stored.
    seq:
      - id: elements
        type: f8
        repeat: expr
        repeat-expr: 4
        doc: The four matrix elements.
  downsampled_frame:
    doc: |
      Payload of a stored pyramid level `CustomDataSeq|DownsampledColorData_<S>|N!`:
      the rows of the reduced frame, without the timestamp frame chunks start with.
    params:
      - id: height
        type: u4
        doc: Height of the level (uiHeight >> level).
      - id: width_bytes
        type: u4
        doc: Row stride of the level in bytes (rounded up to 4).
    seq:
      - id: pixels
        size: height * width_bytes
        doc: Row-major pixel block, height rows of width_bytes bytes.
      - id: padding
        size-eos: true
        doc: Bytes after the pixel block (none in the files limnd2 writes).
  zipped_json:
    doc: |
      A zlib stream holding UTF-8 JSON (`CustomData|WellPlateFrameInfoZJSON!`: an
      array with one object per frame).
    seq:
      - id: json
        size-eos: true
        process: zlib
        doc: The inflated UTF-8 JSON text.
