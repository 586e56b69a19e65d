"""Texts shown in Help dialogs, written for clinicians rather than programmers."""

READING_MAPS_HTML = """
<h3>How to read the maps</h3>
<p>Each panel shows the same aligned face with a colour map on top. The map answers one question:
<i>which parts of this photo made the model's score for the explained class go up or down?</i></p>
<ul>
<li><b>Signed view</b>: <span style="color:#b2182b"><b>red</b></span> regions raised the score of the
explained class, <span style="color:#2166ac"><b>blue</b></span> regions lowered it. White or
uncoloured means little influence.</li>
<li><b>Positive / negative / absolute</b> views show only one direction, or the strength of influence
regardless of direction.</li>
<li>The <b>colour bar</b> beside each panel gives the values in the method's own units. Methods use
different units, so compare colours <i>within</i> a panel, or switch the colour scale to
<i>shared</i> only when comparing the same method across targets or models.</li>
<li>Move the mouse over any panel: a crosshair marks the same pixel everywhere and the line under each
panel gives that pixel's value.</li>
<li>Zoom with the mouse wheel and drag to pan; all panels follow. <b>Home</b> resets the view.</li>
</ul>
<p><b>Caution.</b> Different methods often disagree, and none of them proves that the model is right.
Agreement between several methods (see the <i>Difference</i> tab) makes a pattern more credible; a
map concentrated on background, hair or image borders suggests the model relies on something other
than facial features. A face marked <i>not aligned</i> was not found by the detector, so the model
saw a resized photo instead of the crop it was trained on: treat its prediction with care.</p>
<p><b>Keys</b>: N / P next and previous image, Ctrl+1…Ctrl+0 toggle methods, F5 compute again,
Esc cancel, X crosshair, M model input view, Home reset zoom.</p>
"""

ABOUT_HTML = """
<h3>gmxai-desktop {version}</h3>
<p>Explains facial-syndrome classifiers (GestaltMatcher / DeepGestalt, torchvision models,
TorchScript) with attribution maps computed on this computer. No image or result leaves it.</p>
<p>Research software: not a medical device and not for diagnosis.</p>
"""
