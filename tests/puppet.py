"""Playing a person in front of the camera, from real media: the code lives in
``infra/eval/puppets.py`` (shared with ``vigil eval``); this module re-exports it for the tests."""

from __future__ import annotations

from infra.eval.puppets import ANNOTATIONS as ANNOTATIONS
from infra.eval.puppets import PEAK_FRAMES as PEAK_FRAMES
from infra.eval.puppets import PROMPTS as PROMPTS
from infra.eval.puppets import SAMPLE_S as SAMPLE_S
from infra.eval.puppets import TILT_DIRECTIONS as TILT_DIRECTIONS
from infra.eval.puppets import Challenge as Challenge
from infra.eval.puppets import Clip as Clip
from infra.eval.puppets import CooperativePerson as CooperativePerson
from infra.eval.puppets import NaiveReplay as NaiveReplay
from infra.eval.puppets import Performer as Performer
from infra.eval.puppets import Segment as Segment
from infra.eval.puppets import Step as Step
from infra.eval.puppets import TiltedPhoto as TiltedPhoto
from infra.eval.puppets import Transcript as Transcript
from infra.eval.puppets import challenge as challenge
from infra.eval.puppets import decode_frames as decode_frames
from infra.eval.puppets import decode_images as decode_images
from infra.eval.puppets import file_sha256 as file_sha256
from infra.eval.puppets import jpeg as jpeg
from infra.eval.puppets import letterbox as letterbox
from infra.eval.puppets import load_annotations as load_annotations
from infra.eval.puppets import play as play
from infra.eval.puppets import tilt_homography as tilt_homography
from infra.eval.puppets import tilt_sequence as tilt_sequence
from infra.eval.puppets import tilted as tilted
