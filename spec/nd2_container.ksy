meta:
  id: nd2_container
  title: Nikon NIS-Elements ND2 chunk container (versions 2.x and 3.x)
  file-extension: nd2
  endian: le
  license: MIT
  ks-version: '0.11'
doc: |
  A modern ND2 file is a flat sequence of chunks. The file signature chunk sits at
  offset 0, the chunk map (itself a chunk) is found through a 40-byte trailer at the
  very end of the file, and every other chunk is reached through the map. Padding
  between chunks is not covered by any length field, so the file must not be walked
  sequentially: everything below the top level is reached through instances.
doc-ref: docs/format.md#nd2_container
-nd2kit:
  constants:
    chunk_magic: 0x0ABECEDA
    file_signature: 'ND2 FILE SIGNATURE CHUNK NAME01!'
    map_signature: 'ND2 CHUNK MAP SIGNATURE 0000001!'
    filemap_name: 'ND2 FILEMAP SIGNATURE NAME 0001!'
    chunk_alignment: 4096
    name_reserve: 20
    frame_name_len: 4072
instances:
  signature:
    pos: 0
    type: signature_chunk
    doc: The file signature chunk at offset 0; it carries the format version.
  trailer:
    pos: _io.size - 40
    type: map_trailer
    doc: The last 40 bytes of the file, pointing at the chunk map chunk.
  chunk_map:
    pos: trailer.map_offset
    type: chunk_map_chunk
    doc: The authoritative chunk map (the one the trailer points at).
types:
  chunk_header:
    doc: The 16 bytes that start every chunk.
    doc-ref: docs/format.md#nd2_container
    seq:
      - id: magic
        contents: [0xda, 0xce, 0xbe, 0x0a]
        doc: Chunk magic 0x0ABECEDA (bytes DA CE BE 0A).
      - id: name_len
        type: u4
        doc: |
          Size in bytes of the name field that follows the header, including the
          zero padding writers put after the name (4072 for uncompressed frames).
      - id: data_len
        type: u8
        doc: |
          Size in bytes of the payload; excludes the header, the name field and any
          zero padding after the payload.
  chunk:
    doc: A whole chunk, as found at the offset a chunk map entry gives.
    seq:
      - id: header
        type: chunk_header
        doc: The chunk header.
      - id: name
        type: str
        size: header.name_len
        encoding: ASCII
        terminator: 0x21
        include: true
        doc: |
          Chunk name, ASCII, ending with its only `!`; zero bytes pad the field to
          name_len.
      - id: data
        size: header.data_len
        doc: The payload; its layout depends on the chunk name.
  signature_chunk:
    doc: The file signature chunk at offset 0 (header, 32-byte name, 64-byte version).
    doc-ref: docs/format.md#nd2_container
    seq:
      - id: magic
        contents: [0xda, 0xce, 0xbe, 0x0a]
        doc: Chunk magic.
      - id: name_len
        type: u4
        valid: 32
        doc: Always 32 (the length of the signature name).
      - id: data_len
        type: u8
        valid: 64
        doc: Always 64 (the version field).
      - id: name
        contents: 'ND2 FILE SIGNATURE CHUNK NAME01!'
        doc: The file signature.
      - id: version
        size: 64
        doc: |
          ASCII `VerM.m` (e.g. `Ver3.0`) zero-padded to 64 bytes; readers take the
          major and minor digits from bytes 3 and 5.
  map_trailer:
    doc: The last 40 bytes of the file.
    doc-ref: docs/format.md#nd2_container
    seq:
      - id: signature
        contents: 'ND2 CHUNK MAP SIGNATURE 0000001!'
        doc: Trailer signature.
      - id: map_offset
        type: u8
        doc: Absolute file offset of the chunk map chunk's header.
  chunk_map_chunk:
    doc: The chunk map chunk, found at the trailer's map_offset.
    seq:
      - id: header
        type: chunk_header
        doc: Chunk header (name_len is 4128 in NIS/limnd2 files).
      - id: name
        size: header.name_len
        doc: '`ND2 FILEMAP SIGNATURE NAME 0001!` followed by zero padding.'
      - id: body
        size: header.data_len
        type: chunk_map
        doc: The map entries, the end marker and padding.
  chunk_map:
    doc: |
      Map entries up to and including the end marker (the map signature). Readers
      stop at the end marker; the bytes after its 8-byte tail are zero padding.
    -nd2kit:
      fast: record_table
      table: entries
    seq:
      - id: entries
        type: chunk_map_entry
        repeat: until
        repeat-until: _.is_end
        doc: One entry per chunk, then the end marker.
      - id: padding
        size-eos: true
        doc: Zero padding up to data_len.
  chunk_map_entry:
    doc: One chunk map entry, or the end marker.
    seq:
      - id: name
        type: str
        encoding: ASCII
        terminator: 0x21
        include: true
        doc: |
          Chunk name including its terminating `!` (no length prefix, no NUL); the
          end marker has the map signature here.
      - id: offset
        type: u8
        doc: |
          Absolute offset of the chunk's header; in the end marker, limnd2 writes the
          map chunk's own offset (readers never read it).
      - id: size
        type: u8
        if: name != 'ND2 CHUNK MAP SIGNATURE 0000001!'
        doc: |
          The chunk's data_len (absent after the end marker). Real files sometimes store size == offset here, which
          both readers map to "unknown" (-1).
    instances:
      is_end:
        value: name == 'ND2 CHUNK MAP SIGNATURE 0000001!'
        doc: True for the end marker.
  image_frame:
    doc: Payload of an `ImageDataSeq|N!` chunk.
    doc-ref: docs/format.md#nd2_container
    params:
      - id: height
        type: u4
        doc: uiHeight from the image attributes.
      - id: width_bytes
        type: u4
        doc: uiWidthBytes (row stride) from the image attributes.
      - id: compressed
        type: bool
        doc: True when eCompression is 0 (lossless, zlib).
    seq:
      - id: timestamp
        type: f8
        doc: Frame timestamp (unused by readers; limnd2 writes -1.0 by default).
      - id: pixels
        size: height * width_bytes
        if: not compressed
        doc: Row-major pixel block, height rows of width_bytes bytes.
      - id: zlib_stream
        size-eos: true
        if: compressed
        doc: zlib stream that inflates to height * width_bytes bytes.
