meta:
  id: legacy_jp2
  title: Legacy (version 1.0) ND2 file, JPEG 2000 boxes plus the LIM box map
  file-extension: nd2
  endian: be
  license: MIT
  ks-version: '0.11'
doc: |
  A JPEG 2000 (JP2) box sequence followed by the LIM box map and a 40-byte trailer.
  Box lengths, the ihdr fields and the map's entry count are big-endian; the
  trailer's distance and the map entries' offsets are little-endian.
doc-ref: docs/format.md#legacy_jp2
instances:
  signature:
    pos: 0
    type: signature_box
    doc: The 12-byte JPEG 2000 signature box every legacy file starts with.
  trailer:
    pos: _io.size - 40
    type: box_map_trailer
    doc: The last 40 bytes of the file.
  box_map:
    pos: _io.size - trailer.distance
    type: box_map
    doc: The LIM box map.
  boxes:
    pos: 0
    size: _io.size - trailer.distance
    type: box_list
    doc: The JP2 boxes, which end where the box map starts.
types:
  signature_box:
    doc: |
      The JPEG 2000 signature box: length 12, type `jP  ` and the fixed content
      0D 0A 87 0A. It is also the first box of the box list.
    seq:
      - id: len
        type: u4
        valid: 12
        doc: Box length (always 12).
      - id: box_type
        contents: 'jP  '
        doc: Box type `jP  ` (two spaces).
      - id: signature
        contents: [0x0d, 0x0a, 0x87, 0x0a]
        doc: The JPEG 2000 signature content (CR LF 0x87 LF).
  box_list:
    doc: A sequence of boxes filling its stream.
    seq:
      - id: boxes
        type: box
        repeat: eos
        doc: The boxes, in file order.
  box:
    doc: One JP2 box.
    seq:
      - id: len
        type: u4
        doc: |
          Box length including the 8-byte header; 1 = a u8 extended length follows,
          0 = the box runs to the end of the stream.
      - id: box_type
        type: str
        size: 4
        encoding: ASCII
        doc: Four-character box type (`jP  `, `ftyp`, `jp2h`, `ihdr`, `jp2c`, `xml `...).
      - id: len_ext
        type: u8
        if: len == 1
        doc: Extended box length (only when len == 1).
      - id: body
        size: len - 8
        if: len >= 8
        doc: The box payload (boxes with a 32-bit length).
        type:
          switch-on: box_type
          cases:
            '"jp2h"': box_list
            '"ihdr"': image_header
      - id: body_ext
        size: len_ext - 16
        if: len == 1
        doc: The payload of a box with an extended (64-bit) length, unparsed.
      - id: body_to_end
        size-eos: true
        if: len == 0
        doc: The payload of a box that runs to the end of the stream.
    instances:
      header_len:
        value: 'len == 1 ? 16 : 8'
        doc: Size of the box header (8, or 16 with the extended length).
  image_header:
    doc: The ihdr box payload inside jp2h.
    doc-ref: docs/format.md#legacy_jp2
    seq:
      - id: height
        type: u4
        doc: Image height in pixels.
      - id: width
        type: u4
        doc: Image width in pixels.
      - id: num_components
        type: u2
        doc: Components per pixel.
      - id: bpc_minus_one
        type: u1
        doc: Bits per component minus one (high bit set = signed).
      - id: compression_type
        type: u1
        doc: Compression type (7 = JPEG 2000).
      - id: colourspace_unknown
        type: u1
        doc: Colourspace-unknown flag.
      - id: ipr
        type: u1
        doc: Intellectual property flag.
  box_map_trailer:
    doc: The last 40 bytes of a legacy file.
    seq:
      - id: signature
        contents: 'LABORATORY IMAGING ND BOX MAP 00'
        doc: Trailer signature.
      - id: distance
        type: u8le
        doc: Distance from the end of the file to the start of the box map.
  box_map:
    doc: The LIM box map (16-byte entries, the layout nd2 reads; limnd2's 12 is a bug).
    doc-ref: docs/format.md#legacy_jp2
    seq:
      - id: count
        type: u4
        doc: Number of entries (big-endian).
      - id: entries
        type: box_map_entry
        repeat: expr
        repeat-expr: count
        doc: One entry per box.
  box_map_entry:
    doc: One box map entry.
    seq:
      - id: box_type
        type: str
        size: 4
        encoding: ASCII
        doc: JP2 box type of the referenced box.
      - id: tag
        type: str
        size: 4
        encoding: ASCII
        doc: LIM tag saying what the box holds (`LUNK`, `VIMD`, `VCAL`, `AIM1`...).
      - id: offset
        type: u8le
        doc: Absolute offset of the box header (little-endian).
