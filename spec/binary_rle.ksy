meta:
  id: binary_rle
  title: RLE binary-layer mask (payload of a `CustomDataSeq|<FileTag>|N!` chunk)
  endian: le
  license: MIT
  ks-version: '0.11'
doc: |
  A u32 size followed by a zlib stream. The inflated stream holds a header and one
  record per object; each object lists its rows, each row its runs. Pixels
  x .. x+length-1 of row y take the value object_id.
doc-ref: docs/format.md#binary_rle
seq:
  - id: uncompressed_size
    type: u4
    doc: Size of the inflated stream (limnd2 reads it; nd2 skips it).
  - id: stream
    size-eos: true
    process: zlib
    type: rle_stream
    doc: The inflated mask stream.
types:
  rle_stream:
    doc: The inflated mask stream.
    seq:
      - id: header
        type: rle_header
        doc: Stream header.
      - id: objects
        type: rle_object
        repeat: expr
        repeat-expr: header.object_count
        doc: One record per object.
  rle_header:
    doc: The seven u32 words that start the stream.
    seq:
      - id: version
        type: u4
        doc: Stream version (3; 2 has two more words per object header).
      - id: width
        type: u4
        doc: Mask width in pixels.
      - id: height
        type: u4
        doc: Mask height in pixels.
      - id: object_count
        type: u4
        doc: Number of object records.
      - id: bytes_of_objects
        type: u4
        doc: Size of all object records together.
      - id: last_object_offset
        type: u4
        doc: Offset of the last object record from the start of the stream.
      - id: custom_data_size
        type: u4
        doc: Size of custom data (0 in all known files).
  rle_object:
    doc: One object (connected region) with its rows.
    seq:
      - id: header
        type: rle_object_header
        doc: Object header.
      - id: extra
        type: u4
        repeat: expr
        repeat-expr: 2
        if: _parent.header.version == 2
        doc: Two more words in version-2 object headers (meaning unknown).
      - id: rows
        type: rle_row
        repeat: expr
        repeat-expr: header.row_count
        doc: The object's rows.
  rle_object_header:
    doc: The nine u32 words that start an object record.
    seq:
      - id: object_id
        type: u4
        doc: The pixel value of the object.
      - id: left
        type: u4
        doc: Bounding box left column (inclusive).
      - id: top
        type: u4
        doc: Bounding box top row (inclusive).
      - id: right
        type: u4
        doc: Bounding box right column (inclusive).
      - id: bottom
        type: u4
        doc: Bounding box bottom row (inclusive).
      - id: object_bytes
        type: u4
        doc: Size of this object record including its header.
      - id: row_count
        type: u4
        doc: Number of row records.
      - id: last_row_offset
        type: u4
        doc: Offset of the last row record from the start of the object record.
      - id: status
        type: u4
        doc: Status flags.
  rle_row:
    doc: One row of an object.
    seq:
      - id: y
        type: u4
        doc: Row index.
      - id: run_count
        type: u4
        doc: Number of runs in this row.
      - id: runs
        type: rle_run
        repeat: expr
        repeat-expr: run_count
        doc: The runs.
  rle_run:
    doc: One run of object pixels.
    seq:
      - id: x
        type: u4
        doc: First column.
      - id: length
        type: u4
        doc: Number of pixels.
