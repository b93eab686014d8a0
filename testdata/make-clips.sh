#!/bin/sh
# make-clips.sh regenerates the short test clips in this directory, which
# the media package's tests and the end-to-end peer tests stream. The clips
# are committed, so CI never runs this script; run it (from anywhere) after
# changing it, and commit the result.
#
# It needs Debian's ffmpeg (apt-get install -y ffmpeg), which is built with
# libvpx, libx264 and libopus. Every clip lasts 3 seconds and loops cleanly:
#
#   clip.ivf    VP8 in IVF, 320x240, 30 fps, a key frame every second
#   clip-vp9.ivf VP9 in IVF, same picture and key frames
#   clip.h264   H.264 constrained baseline, Annex-B, 30 fps, no B-frames,
#               SPS and PPS repeated before every IDR so a viewer can join at
#               any key frame
#   clip.ogg    Opus in Ogg, 48 kHz stereo, 20 ms packets
#
# The picture is ffmpeg's moving test pattern, the sound a 440 Hz tone;
# each file stays well under 200 KB.
set -eu

cd "$(dirname "$0")"

fps=30
seconds=3
size=320x240
pattern="testsrc2=size=${size}:rate=${fps}:duration=${seconds}"
gop="-g ${fps} -keyint_min ${fps}"

ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$pattern" \
	-c:v libvpx -b:v 250k -deadline good -cpu-used 4 $gop -auto-alt-ref 0 \
	-f ivf clip.ivf

ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$pattern" \
	-c:v libvpx-vp9 -b:v 200k -deadline good -cpu-used 4 $gop -auto-alt-ref 0 \
	-lag-in-frames 0 -f ivf clip-vp9.ivf

ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$pattern" \
	-c:v libx264 -profile:v baseline -level 3.1 -pix_fmt yuv420p -bf 0 \
	-b:v 250k -x264-params "keyint=${fps}:min-keyint=${fps}:scenecut=0:repeat-headers=1" \
	-f h264 clip.h264

ffmpeg -hide_banner -loglevel error -y -f lavfi \
	-i "sine=frequency=440:sample_rate=48000:duration=${seconds}" -ac 2 \
	-c:a libopus -b:a 32k -frame_duration 20 -f ogg clip.ogg

ls -l clip.ivf clip-vp9.ivf clip.h264 clip.ogg
