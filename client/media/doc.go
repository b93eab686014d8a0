// Package media reads and writes the encoded media that Switchboard's
// peers stream and record, in pure Go (no cgo, no codecs): it moves
// encoded frames around and never decodes a picture or a sound.
//
// It owns four things:
//
//   - Readers that split a file into frames with their timing: VP8, VP9 and
//     AV1 in IVF (IVFReader), H.264 Annex-B byte streams (H264Reader, grouped
//     into access units) and Opus in Ogg (OggReader, one frame per Opus
//     packet).
//   - Writers that store frames a viewer received: IVF (IVFWriter) and
//     H.264 Annex-B (H264Writer), and CreateFile, which picks one by the file
//     name and starts at the first key frame.
//   - FileSource, a Source that plays a file in real time, paced by the
//     frames' timestamps, optionally looping, the way a camera would send.
//   - LiveSource, a Source that reads a stream that can be read only once
//     (an encoder's output on stdin or a FIFO) as it comes, paced the same
//     way, and hands each frame to every Stream, each starting at a key
//     frame, a slow one losing frames rather than holding up the others.
//
// Frames are identified by codec MIME type, using pion/webrtc's names
// (webrtc.MimeTypeVP8 and so on). The package knows nothing about
// signaling or peer connections; package client uses it for its Master and
// Viewer peers.
package media
